/**
 * Edges of the workloads that their other tests leave open (see docs/mutation-equivalents.md):
 * reading and checking a bma verdict, the bma dataset checks, the rules at their limits, the demo
 * generator's spread, generic answers, the registry's error.
 */
import { describe, expect, it } from 'vitest';
import { checkBmaSubject, parseBmaAnswer } from '#shared/domain/workloads/bma/answers';
import { generateInstallations } from '#shared/domain/workloads/bma/data';
import {
  DAY_MS,
  EXAMPLE_RULE_SET,
  type Installation,
  type Rule,
  violates,
} from '#shared/domain/workloads/bma/rules';
import { INSTALLATIONS } from '#shared/domain/workloads/bma/tools';
import { bmaWorkload } from '#shared/domain/workloads/bma/workload';
import { genericWorkload } from '#shared/domain/workloads/generic/workload';
import { type WorkloadName, workloadOf } from '#shared/domain/workloads/registry';
import { thrown } from './thrown';

describe('bma answers', () => {
  it('keeps the trimmed reply, no reasons when none are given, no subject without a string id', () => {
    const parsed = parseBmaAnswer('  {"verdict":"compliant","installationId":42}\n');
    expect(parsed).toStrictEqual({
      answer: '{"verdict":"compliant","installationId":42}',
      verdict: 'compliant',
      reasons: [],
    });
  });

  it('matches an id with regular-expression characters literally', () => {
    const parsed = { answer: '', subject: 'BMA.1' };
    expect(() =>
      checkBmaSubject(parsed, { id: 'S1', prompt: 'Check installation BMA.1 now.' }),
    ).not.toThrow();
    expect(() => checkBmaSubject(parsed, { id: 'S1', prompt: 'Check installation BMAX1 now.' })).toThrow(
      SyntaxError,
    );
  });

  it('asks for an id when the verdict names an empty one', () => {
    const error = thrown(() =>
      checkBmaSubject({ answer: '', subject: '' }, { id: 'S1', prompt: 'Check BMA-0001' }),
    );
    expect(error).toBeInstanceOf(SyntaxError);
    expect((error as Error).message).toContain('must name its installationId');
  });

  it('names the subtask whose installation the verdict does not name', () => {
    const error = thrown(() =>
      checkBmaSubject({ answer: '', subject: 'BMA-0002' }, { id: 'S7', prompt: 'Check BMA-0001' }),
    );
    expect(error).toBeInstanceOf(SyntaxError);
    expect((error as Error).message).toContain('S7');
  });
});

describe('the bma dataset', () => {
  it('checks only the installations there are, and wants a string id on each', () => {
    expect(() => bmaWorkload.checkDataset(undefined)).not.toThrow();
    expect(() => bmaWorkload.checkDataset({})).not.toThrow();
    const error = thrown(() => bmaWorkload.checkDataset({ [INSTALLATIONS]: [{ id: 'a' }, null] }));
    expect(error).toMatchObject({ field: `dataset.${INSTALLATIONS}[1].id` });
  });

  it('counts installations as its units, none without them', () => {
    expect(bmaWorkload.datasetUnits(undefined)).toBeUndefined();
    expect(bmaWorkload.datasetUnits({})).toBeUndefined();
    expect(bmaWorkload.datasetUnits({ [INSTALLATIONS]: [{ id: 'a' }, { id: 'b' }] })).toBe(2);
  });
});

describe('bma rules at their limits', () => {
  const asOf = EXAMPLE_RULE_SET.asOf;
  const daysAgo = (days: number) => new Date(Date.parse(asOf) - days * DAY_MS).toISOString().slice(0, 10);
  const rule = (id: string): Rule => EXAMPLE_RULE_SET.rules.find((r) => r.id === id)!;
  const maxDays = (id: string) => (rule(id) as { maxDays: number }).maxDays;
  const inst = (over: Partial<Installation>): Installation => ({
    id: 'BMA-0001',
    site: 'Werk Nord 1',
    lastInspection: daysAgo(1),
    lastMaintenance: daysAgo(1),
    batteryInstalledOn: daysAgo(1),
    detectors: [],
    openDefects: [],
    ...over,
  });
  const defect = (severity: 'critical' | 'minor', days: number) => ({
    id: 'F1',
    severity,
    reportedOn: daysAgo(days),
    description: 'x',
  });

  it('allows exactly the maximum days since an inspection, not one more', () => {
    expect(violates(rule('R1'), inst({ lastInspection: daysAgo(maxDays('R1')) }), asOf)).toBe(false);
    expect(violates(rule('R1'), inst({ lastInspection: daysAgo(maxDays('R1') + 1) }), asOf)).toBe(true);
  });

  it('allows a detector of exactly the maximum age, not one day older', () => {
    const detector = (days: number) => [{ id: 'D1', type: 'heat' as const, installedOn: daysAgo(days) }];
    expect(violates(rule('R3'), inst({ detectors: detector(maxDays('R3')) }), asOf)).toBe(false);
    expect(violates(rule('R3'), inst({ detectors: detector(maxDays('R3') + 1) }), asOf)).toBe(true);
  });

  it('ages only defects of the rule’s severity, up to exactly the maximum', () => {
    const r6 = rule('R6');
    expect(violates(r6, inst({ openDefects: [defect('minor', maxDays('R6'))] }), asOf)).toBe(false);
    expect(violates(r6, inst({ openDefects: [defect('minor', maxDays('R6') + 1)] }), asOf)).toBe(true);
    expect(violates(r6, inst({ openDefects: [defect('critical', 400)] }), asOf)).toBe(false);
  });
});

describe('the demo generator spreads its values', () => {
  const installations = () => generateInstallations(1000, 11);

  it('draws kept inspection dates over the whole kept window, 1 to 90 days', () => {
    const ages = installations()
      .map((i) => (Date.parse(EXAMPLE_RULE_SET.asOf) - Date.parse(i.lastInspection)) / DAY_MS)
      .filter((days) => days <= 90);
    expect(Math.min(...ages)).toBe(1);
    expect(Math.max(...ages)).toBe(90);
  });

  it('uses every kind of site (8) and every quarter (5)', () => {
    const sites = installations().map((i) => i.site.split(' '));
    expect(new Set(sites.map((s) => s[0])).size).toBe(8);
    expect(new Set(sites.map((s) => s[1])).size).toBe(5);
  });
});

describe('the generic workload', () => {
  const correct = (answer: string, expected: string) => genericWorkload.isCorrect({ answer }, expected);

  it('reads the trimmed reply and refuses an empty one', () => {
    expect(genericWorkload.parseAnswer('  42 \n')).toEqual({ answer: '42' });
    expect(() => genericWorkload.parseAnswer(' \n ')).toThrow('empty reply');
  });

  it('ignores case, outer spaces, runs of spaces and a final full stop, nothing else', () => {
    expect(correct('42', '  42 ')).toBe(true);
    expect(correct('New  York.', 'new york')).toBe(true);
    expect(correct('New York', 'newyork')).toBe(false);
    expect(correct('3.14', '314')).toBe(false);
  });
});

describe('the workload registry', () => {
  it('names the unknown workload in its error', () => {
    expect(() => workloadOf('nope' as WorkloadName)).toThrow('"nope"');
  });
});
