import { describe, expect, it } from 'vitest';
import { RequestValidationError } from '#shared/domain/errors';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { bmaSubtaskPrompt } from '#shared/domain/workloads/bma/prompts';
import { EXAMPLE_RULE_SET } from '#shared/domain/workloads/bma/rules';
import {
  DEFAULT_WORKLOAD,
  inferWorkload,
  WORKLOAD_NAMES,
  type WorkloadName,
  workloadOf,
} from '#shared/domain/workloads/registry';
import type { DatasetItems, Workload } from '#shared/domain/workloads/workload';
import { executeTool, toolsFor } from '#shared/use-cases/tools';

/** Every part of a workload; the type below fails to compile when the interface gains one not listed here. */
const PARTS = [
  'name',
  'datasetKey',
  'systemPrompt',
  'tools',
  'runTool',
  'parseAnswer',
  'isCorrect',
  'requireDataset',
  'checkDataset',
  'datasetUnits',
  'checkAnswer',
] as const satisfies readonly (keyof Workload)[];
const listsEveryPart: Exclude<keyof Workload, (typeof PARTS)[number]> extends never ? true : false = true;

const FUNCTIONS = [
  'runTool',
  'parseAnswer',
  'isCorrect',
  'requireDataset',
  'checkDataset',
  'datasetUnits',
  'checkAnswer',
] as const;

const noItems: DatasetItems = () => Promise.resolve(undefined);

describe('workload registry', () => {
  it('lists the generic workload first, as the default', () => {
    expect(listsEveryPart).toBe(true);
    expect(WORKLOAD_NAMES[0]).toBe(DEFAULT_WORKLOAD);
    expect(new Set(WORKLOAD_NAMES).size).toBe(WORKLOAD_NAMES.length);
  });

  it.each(WORKLOAD_NAMES)('%s provides every part', async (name) => {
    const workload = workloadOf(name);

    expect(Object.keys(workload).sort()).toEqual([...PARTS].sort());
    expect(workload.name).toBe(name);
    expect(workload.systemPrompt.trim()).not.toBe('');
    for (const part of FUNCTIONS) expect(typeof workload[part]).toBe('function');
    expect(() => workload.parseAnswer('')).toThrow(SyntaxError);
    const toolNames = workload.tools.map((t) => t.function.name);
    expect(new Set(toolNames).size).toBe(toolNames.length);
    // Every tool it shows the model is one it answers; a tool it does not show is not.
    for (const tool of toolNames) expect(await workload.runTool(tool, {}, noItems)).toBeDefined();
    expect(await workload.runTool('no_such_tool', {}, noItems)).toBeUndefined();
  });

  it.each(WORKLOAD_NAMES)(
    'selects %s for a request that carries its dataset and names no workload',
    (name) => {
      const key = workloadOf(name).datasetKey;
      if (key === undefined) expect(name).toBe(DEFAULT_WORKLOAD);
      else expect(inferWorkload({ [key]: [] })).toBe(name);
    },
  );

  it('gives the default workload to a request without a dataset', () => {
    expect(inferWorkload(undefined)).toBe(DEFAULT_WORKLOAD);
    expect(inferWorkload({ other: [] })).toBe(DEFAULT_WORKLOAD);
  });

  it('refuses a name no workload has', () => {
    expect(() => workloadOf('nope' as WorkloadName)).toThrow(TypeError);
  });
});

describe('the generic workload', () => {
  const generic = workloadOf('generic');

  it('takes the reply text as the answer and compares it loosely with the ground truth', () => {
    const parsed = generic.parseAnswer('  Forty  Two. \n');
    expect(parsed).toEqual({ answer: 'Forty  Two.' });
    expect(generic.isCorrect(parsed, 'forty two')).toBe(true);
    expect(generic.isCorrect(parsed, '42')).toBe(false);
  });

  it('needs no dataset and sends no tools', () => {
    expect(() => generic.requireDataset(undefined)).not.toThrow();
    expect(generic.datasetUnits({ installations: [1, 2] })).toBeUndefined();
    expect(toolsFor(generic)).toBeUndefined();
  });
});

describe('the bma workload', () => {
  const request = bmaDemoRequest(3, 7) as {
    workload: WorkloadName;
    dataset: { installations: { id: string }[] };
  };
  const bma = workloadOf(request.workload);
  const items: DatasetItems = (collection, id) =>
    Promise.resolve(
      (request.dataset as Record<string, { id: string }[]>)[collection]?.find((item) => item.id === id),
    );

  it('is the workload the demo request names, and the one its dataset selects', () => {
    expect(inferWorkload(request.dataset)).toBe(request.workload);
    expect(bma.datasetUnits(request.dataset)).toBe(3);
  });

  it('parses a verdict with reasons and scores the verdict only', () => {
    const parsed = bma.parseAnswer('Here: {"verdict": "non_compliant", "reasons": ["R1: late", 2]}');
    expect(parsed.verdict).toBe('non_compliant');
    expect(parsed.reasons).toEqual(['R1: late', '2']);
    expect(bma.isCorrect(parsed, 'non_compliant')).toBe(true);
    expect(bma.isCorrect(parsed, 'compliant')).toBe(false);
    expect(() => bma.parseAnswer('{"verdict": "fine"}')).toThrow(
      'verdict must be "compliant" or "non_compliant", got "fine"',
    );
  });

  it('requires the installations with the request and string ids when the job is accepted', () => {
    expect(() => bma.requireDataset({})).toThrow(
      new RequestValidationError('dataset.installations', 'is required by the bma-compliance workload'),
    );
    expect(() => bma.checkDataset({ installations: [{ id: 'A' }, { id: 3 }] })).toThrow(
      'dataset.installations[1].id: must be a string',
    );
    expect(() => bma.checkDataset(request.dataset)).not.toThrow();
  });

  it('answers its tools from the rule set and the job’s installations', async () => {
    const first = request.dataset.installations[0];
    expect(await bma.runTool('list_rules', {}, items)).toEqual(EXAMPLE_RULE_SET);
    expect(await bma.runTool('get_installation', { installationId: first?.id }, items)).toEqual(first);
    expect(await bma.runTool('get_installation', { installationId: 'BMA-9999' }, items)).toEqual({
      error: 'installation BMA-9999 not found',
    });
    expect(await bma.runTool('get_installation', {}, items)).toEqual({
      error: 'installationId (string) is required',
    });
  });

  it('runs a tool call for the sub-agent: JSON arguments in, the JSON answer out', async () => {
    const call = (name: string, args: string) => ({
      id: 'c1',
      type: 'function' as const,
      function: { name, arguments: args },
    });
    expect(toolsFor(bma)?.map((t) => t.function.name)).toEqual(['get_installation', 'list_rules']);
    expect(await executeTool(bma, items, call('list_rules', ''))).toBe(JSON.stringify(EXAMPLE_RULE_SET));
    expect(JSON.parse(await executeTool(bma, items, call('get_installation', '{'))).error).toBe(
      'arguments of get_installation are not valid JSON',
    );
    expect(JSON.parse(await executeTool(bma, items, call('delete_all', '{}'))).error).toBe(
      'the tool delete_all is not offered to this job',
    );
  });
});

describe('tools and answers checked against what the job was given', () => {
  const items: DatasetItems = () => Promise.resolve({ id: 'BMA-0001', detectors: [] });
  const call = (name: string) => ({
    id: 'c1',
    type: 'function' as const,
    function: { name, arguments: '{}' },
  });

  it.each([
    ['generic', 'get_installation'],
    ['bma-compliance', 'delete_installation'],
  ] as const)(
    'answers a %s job calling %s, a tool it was not offered, with an error and runs nothing',
    async (name, tool) => {
      // Prepare
      let ran = false;
      const workload = {
        ...workloadOf(name),
        runTool: () => {
          ran = true;
          return Promise.resolve({ ok: true });
        },
      };
      // Act
      const answer = JSON.parse(await executeTool(workload, items, call(tool))) as { error?: string };
      // Assess
      expect(answer.error).toMatch(/not offered to this job/);
      expect(ran).toBe(false);
    },
  );

  it('refuses a BMA verdict about another installation than the one given, or naming none', () => {
    // Prepare
    const bma = workloadOf('bma-compliance');
    const given = { id: 'BMA-0001', prompt: bmaSubtaskPrompt('BMA-0001') };
    const verdict = (id: unknown) =>
      bma.parseAnswer(JSON.stringify({ installationId: id, verdict: 'compliant', reasons: [] }));
    // Act / Assess
    expect(() => bma.checkAnswer(verdict('BMA-0001'), given)).not.toThrow();
    expect(() => bma.checkAnswer(verdict('BMA-0002'), given)).toThrow(SyntaxError);
    expect(() => bma.checkAnswer(verdict('BMA-000'), given)).toThrow(SyntaxError);
    expect(() => bma.checkAnswer(verdict(undefined), given)).toThrow(/installationId/);
  });
});
