/**
 * The demo data of the `bma` workload: synthetic installations, seeded, so the same seed gives the
 * same dataset (and the same ground truth) everywhere.
 */
import { seededRandom } from '#shared/domain/random';
import {
  DAY_MS,
  type Defect,
  type Detector,
  EXAMPLE_RULE_SET,
  type Installation,
  type RuleSet,
} from './rules';

const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** Formats an installation id: BMA-0001. */
export const installationId = (n: number): string => `BMA-${String(n).padStart(4, '0')}`;

const SITES = ['Lagerhalle', 'Schule', 'Klinik', 'Bürohaus', 'Hotel', 'Werk', 'Rathaus', 'Museum'];
const QUARTERS = ['Nord', 'Süd', 'Ost', 'West', 'Mitte'];

/**
 * Generates `count` synthetic installations. Each rule is broken with probability
 * `violationRate` (default 0.1), so with six rules about half the installations comply.
 */
export function generateInstallations(
  count: number,
  seed = 1,
  violationRate = 0.1,
  ruleSet: RuleSet = EXAMPLE_RULE_SET,
): Installation[] {
  const rnd = seededRandom(seed);
  const asOf = Date.parse(ruleSet.asOf);
  const ago = (minDays: number, maxDays: number) =>
    isoDay(asOf - (minDays + Math.floor(rnd() * (maxDays - minDays + 1))) * DAY_MS);
  const breaks = () => rnd() < violationRate;
  const out: Installation[] = [];
  for (let n = 1; n <= count; n++) {
    const id = installationId(n);
    const detectorCount = 3 + Math.floor(rnd() * 5);
    const oldDetector = breaks();
    const detectors: Detector[] = [];
    for (let d = 1; d <= detectorCount; d++) {
      const type = (['optical', 'heat', 'multi'] as const)[Math.floor(rnd() * 3)] ?? 'optical';
      detectors.push({
        id: `${id}-D${d}`,
        type,
        installedOn: oldDetector && d === 1 ? ago(2950, 4000) : ago(100, 2900),
      });
    }
    const openDefects: Defect[] = [];
    if (breaks())
      openDefects.push({
        id: `${id}-F1`,
        severity: 'critical',
        reportedOn: ago(1, 60),
        description: 'Alarm transmission fault',
      });
    if (breaks())
      openDefects.push({
        id: `${id}-F2`,
        severity: 'minor',
        reportedOn: ago(95, 300),
        description: 'Detector cover missing',
      });
    else if (rnd() < 0.3)
      openDefects.push({
        id: `${id}-F3`,
        severity: 'minor',
        reportedOn: ago(1, 85),
        description: 'Label faded',
      });
    out.push({
      id,
      site: `${SITES[Math.floor(rnd() * SITES.length)]} ${QUARTERS[Math.floor(rnd() * QUARTERS.length)]} ${n}`,
      lastInspection: breaks() ? ago(95, 400) : ago(1, 90),
      lastMaintenance: breaks() ? ago(370, 900) : ago(1, 360),
      batteryInstalledOn: breaks() ? ago(1470, 2500) : ago(30, 1450),
      detectors,
      openDefects,
    });
  }
  return out;
}
