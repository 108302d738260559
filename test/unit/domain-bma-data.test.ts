/**
 * The demo's generator, field by field: each rule is broken only by its own field, within the
 * windows that make it broken or kept, so the ground truth is what the generator meant it to be.
 */
import { describe, expect, it } from 'vitest';
import { generateInstallations } from '#shared/domain/workloads/bma/data';
import { DAY_MS, EXAMPLE_RULE_SET, evaluateInstallation } from '#shared/domain/workloads/bma/rules';

const asOf = Date.parse(EXAMPLE_RULE_SET.asOf);
/** Whole days between an ISO day and the rule set's audit date. */
const daysAgo = (day: string): number => {
  expect(day).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  return (asOf - Date.parse(day)) / DAY_MS;
};
const within = (days: number, [lo, hi]: readonly [number, number]) => days >= lo && days <= hi;

describe('generateInstallations, field by field', () => {
  const installations = generateInstallations(1000, 11);

  it('gives 3-7 detectors each, numbered D1…, of the three types, every count and type seen', () => {
    const counts = new Set<number>();
    const types = new Set<string>();
    for (const inst of installations) {
      counts.add(inst.detectors.length);
      inst.detectors.forEach((d, i) => {
        expect(d.id).toBe(`${inst.id}-D${i + 1}`);
        types.add(d.type);
      });
    }
    expect([...counts].sort()).toEqual([3, 4, 5, 6, 7]);
    expect([...types].sort()).toEqual(['heat', 'multi', 'optical']);
  });

  it('puts every date in its window: kept ones inside the rule, broken ones outside, only D1 too old', () => {
    let oldDetectors = 0;
    for (const inst of installations) {
      expect(
        within(daysAgo(inst.lastInspection), [1, 90]) || within(daysAgo(inst.lastInspection), [95, 400]),
      ).toBe(true);
      expect(
        within(daysAgo(inst.lastMaintenance), [1, 360]) || within(daysAgo(inst.lastMaintenance), [370, 900]),
      ).toBe(true);
      expect(
        within(daysAgo(inst.batteryInstalledOn), [30, 1450]) ||
          within(daysAgo(inst.batteryInstalledOn), [1470, 2500]),
      ).toBe(true);
      inst.detectors.forEach((d, i) => {
        const age = daysAgo(d.installedOn);
        if (i === 0 && within(age, [2950, 4000])) oldDetectors += 1;
        else expect(within(age, [100, 2900])).toBe(true);
      });
    }
    // About the violation rate (0.1) of installations have one detector too old.
    expect(oldDetectors).toBeGreaterThan(60);
    expect(oldDetectors).toBeLessThan(140);
  });

  it('opens defects as the rules expect: a fresh critical, an old minor, or a fresh minor, never both minors', () => {
    const seen = { F1: 0, F2: 0, F3: 0 };
    for (const inst of installations) {
      const ids = inst.openDefects.map((d) => d.id.slice(inst.id.length + 1));
      expect(ids.includes('F2') && ids.includes('F3')).toBe(false);
      for (const d of inst.openDefects) {
        const key = d.id.slice(inst.id.length + 1) as keyof typeof seen;
        seen[key] += 1;
        const window = { F1: [1, 60], F2: [95, 300], F3: [1, 85] }[key] as [number, number];
        expect(within(daysAgo(d.reportedOn), window)).toBe(true);
        expect(d.severity).toBe(key === 'F1' ? 'critical' : 'minor');
        expect(d.description.length).toBeGreaterThan(0);
      }
    }
    expect(seen.F1).toBeGreaterThan(60);
    expect(seen.F2).toBeGreaterThan(60);
    // F3 comes when F2 does not, three times in ten.
    expect(seen.F3).toBeGreaterThan(200);
    expect(seen.F3).toBeLessThan(340);
  });

  it('names each site by a kind, a quarter and the installation number', () => {
    installations.forEach((inst, i) => {
      expect(inst.site).toMatch(new RegExp(`^\\S+ (Nord|Süd|Ost|West|Mitte) ${i + 1}$`));
    });
  });

  it('breaks no rule at violation rate 0 and every rule at rate 1', () => {
    for (const inst of generateInstallations(200, 4, 0))
      expect(evaluateInstallation(inst).violated).toEqual([]);
    for (const inst of generateInstallations(200, 4, 1))
      expect(evaluateInstallation(inst).violated).toEqual(['R1', 'R2', 'R3', 'R4', 'R5', 'R6']);
  });
});
