/**
 * The demo workload: check fire-alarm installations (BMA, Brandmeldeanlagen) for compliance.
 *
 * EXAMPLE RULE SET, FOR DEMONSTRATION ONLY. The rules below are loosely modelled on common
 * inspection and maintenance practice for fire-alarm systems; they are not a statement of any
 * standard or law and must not be used to judge a real installation.
 */

export type Verdict = 'compliant' | 'non_compliant';

export interface Detector {
  id: string;
  type: 'optical' | 'heat' | 'multi';
  installedOn: string;
}

export interface Defect {
  id: string;
  severity: 'critical' | 'minor';
  reportedOn: string;
  description: string;
}

export interface Installation {
  id: string;
  site: string;
  lastInspection: string;
  lastMaintenance: string;
  batteryInstalledOn: string;
  detectors: Detector[];
  openDefects: Defect[];
}

/** A rule is data, so the same set can be shown to a model (`list_rules`) and evaluated here. */
export type Rule =
  | {
      id: string;
      title: string;
      kind: 'max_days_since';
      field: 'lastInspection' | 'lastMaintenance' | 'batteryInstalledOn';
      maxDays: number;
    }
  | { id: string; title: string; kind: 'max_detector_age_days'; maxDays: number }
  | { id: string; title: string; kind: 'no_open_defects'; severity: 'critical' }
  | { id: string; title: string; kind: 'max_open_defect_age_days'; severity: 'minor'; maxDays: number };

export interface RuleSet {
  ruleSet: string;
  label: string;
  /** The audit date every age is measured against. */
  asOf: string;
  rules: Rule[];
}

/** The example rule set the demo ships (clearly labelled; see the module comment). */
export const EXAMPLE_RULE_SET: RuleSet = {
  ruleSet: 'EXAMPLE-BMA-2026',
  label: 'Example rule set for demonstration only; not a standard, not legal advice.',
  asOf: '2026-11-01',
  rules: [
    {
      id: 'R1',
      title: 'Inspection at most 92 days ago (quarterly)',
      kind: 'max_days_since',
      field: 'lastInspection',
      maxDays: 92,
    },
    {
      id: 'R2',
      title: 'Maintenance at most 366 days ago (yearly)',
      kind: 'max_days_since',
      field: 'lastMaintenance',
      maxDays: 366,
    },
    {
      id: 'R3',
      title: 'No automatic detector older than 8 years',
      kind: 'max_detector_age_days',
      maxDays: 2922,
    },
    {
      id: 'R4',
      title: 'Emergency-power battery at most 4 years old',
      kind: 'max_days_since',
      field: 'batteryInstalledOn',
      maxDays: 1461,
    },
    { id: 'R5', title: 'No open critical defect', kind: 'no_open_defects', severity: 'critical' },
    {
      id: 'R6',
      title: 'No minor defect open for more than 90 days',
      kind: 'max_open_defect_age_days',
      severity: 'minor',
      maxDays: 90,
    },
  ],
};

const DAY_MS = 86_400_000;
const daysBetween = (from: string, to: string): number =>
  Math.floor((Date.parse(to) - Date.parse(from)) / DAY_MS);

/** Whether one rule is violated by one installation. */
export function violates(rule: Rule, inst: Installation, asOf: string): boolean {
  switch (rule.kind) {
    case 'max_days_since':
      return daysBetween(inst[rule.field], asOf) > rule.maxDays;
    case 'max_detector_age_days':
      return inst.detectors.some((d) => daysBetween(d.installedOn, asOf) > rule.maxDays);
    case 'no_open_defects':
      return inst.openDefects.some((d) => d.severity === rule.severity);
    case 'max_open_defect_age_days':
      return inst.openDefects.some(
        (d) => d.severity === rule.severity && daysBetween(d.reportedOn, asOf) > rule.maxDays,
      );
  }
}

/** The ground truth: the verdict and the ids of the violated rules. */
export function evaluateInstallation(
  inst: Installation,
  ruleSet: RuleSet = EXAMPLE_RULE_SET,
): { verdict: Verdict; violated: string[] } {
  const violated = ruleSet.rules.filter((r) => violates(r, inst, ruleSet.asOf)).map((r) => r.id);
  return { verdict: violated.length === 0 ? 'compliant' : 'non_compliant', violated };
}

/** A small seeded PRNG (mulberry32): the same seed gives the same dataset everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

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
