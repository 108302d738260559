import { describe, expect, it } from 'vitest';
import { generateInstallations } from '#shared/domain/workloads/bma/data';
import {
  EXAMPLE_RULE_SET,
  evaluateInstallation,
  type Installation,
} from '#shared/domain/workloads/bma/rules';

const compliant: Installation = {
  id: 'BMA-9999',
  site: 'Test',
  lastInspection: '2026-10-01',
  lastMaintenance: '2026-03-01',
  batteryInstalledOn: '2024-01-01',
  detectors: [{ id: 'D1', type: 'optical', installedOn: '2020-01-01' }],
  openDefects: [{ id: 'F1', severity: 'minor', reportedOn: '2026-10-20', description: 'label' }],
};

describe('the BMA example rule set', () => {
  it('is labelled as an example, not a standard', () => {
    expect(EXAMPLE_RULE_SET.label).toMatch(/demonstration only/i);
    expect(EXAMPLE_RULE_SET.rules.map((r) => r.id)).toEqual(['R1', 'R2', 'R3', 'R4', 'R5', 'R6']);
  });

  it('finds a well-kept installation compliant', () => {
    expect(evaluateInstallation(compliant)).toEqual({ verdict: 'compliant', violated: [] });
  });

  it.each([
    ['R1', { lastInspection: '2026-07-01' }],
    ['R2', { lastMaintenance: '2025-10-01' }],
    ['R3', { detectors: [{ id: 'D1', type: 'heat' as const, installedOn: '2018-01-01' }] }],
    ['R4', { batteryInstalledOn: '2022-01-01' }],
    [
      'R5',
      {
        openDefects: [{ id: 'F', severity: 'critical' as const, reportedOn: '2026-10-30', description: 'x' }],
      },
    ],
    [
      'R6',
      { openDefects: [{ id: 'F', severity: 'minor' as const, reportedOn: '2026-07-01', description: 'x' }] },
    ],
  ])('flags a breach of %s', (rule, change) => {
    expect(evaluateInstallation({ ...compliant, ...change })).toEqual({
      verdict: 'non_compliant',
      violated: [rule],
    });
  });
});

describe('generateInstallations', () => {
  it('is deterministic under a seed and differs across seeds', () => {
    expect(generateInstallations(20, 7)).toEqual(generateInstallations(20, 7));
    expect(generateInstallations(20, 7)).not.toEqual(generateInstallations(20, 8));
  });

  it('yields a mix of verdicts (about half compliant at the default rate)', () => {
    const verdicts = generateInstallations(400, 3).map((i) => evaluateInstallation(i).verdict);
    const share = verdicts.filter((v) => v === 'compliant').length / verdicts.length;
    expect(share).toBeGreaterThan(0.35);
    expect(share).toBeLessThan(0.75);
  });

  it('gives unique, zero-padded ids', () => {
    const ids = generateInstallations(150, 1).map((i) => i.id);
    expect(new Set(ids).size).toBe(150);
    expect(ids[0]).toBe('BMA-0001');
  });
});
