import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRunArgs } from '#cli/main';
import { messageOf } from './usage-message';

const dir = mkdtempSync(join(tmpdir(), 'parl-cli-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('parl run arguments', () => {
  it('defaults to the demo: 100 installations in parl mode', () => {
    const opts = parseRunArgs([], {});
    expect(opts.request.workload).toBe('bma-compliance');
    expect(opts.request.subtasks).toHaveLength(100);
    expect(opts.request.mode).toBe('parl');
    expect(opts.seed).toBe(1);
  });

  it('takes the policy mode from --policy and rejects an unknown one', () => {
    expect(parseRunArgs(['--task', 'x', '--policy', 'learn'], {}).request.policy).toBe('learn');
    expect(parseRunArgs(['--task', 'x'], {}).request.policy).toBeUndefined();
    expect(messageOf(['--policy', 'smart'])).toBe('--policy must be "off", "learn" or "greedy", got "smart"');
  });

  it('lets flags override the input file', () => {
    const input = file('job.json', JSON.stringify({ task: 'Sum', subtasks: ['1 + 1'], mode: 'parl' }));
    const opts = parseRunArgs(['--input', input, '--mode', 'sequential', '--max-subagents', '3'], {});
    expect(opts.request).toMatchObject({ task: 'Sum', mode: 'sequential', maxSubagents: 3 });
  });

  it.each([
    [['--task', ''], /task: must not be empty/],
    [['--task', '   '], /task: must not be empty/],
    [['--input', join(dir, 'missing.json')], /cannot be read: ENOENT/],
    [['--input', 'INVALID'], /cannot be read/],
    [['--max-subagents', '0'], /--max-subagents must be an integer from 1 to 50000/],
    [['--max-subagents', '50001'], /--max-subagents must be an integer from 1 to 50000/],
    [['--installations', '50001'], /--installations must be an integer from 1 to 50000/],
    [['--max-subagents', 'many'], /--max-subagents must be an integer/],
    [['--mode', 'turbo'], /--mode must be "parl" or "sequential"/],
    [['--seed=-1'], /--seed must be an integer/],
    [['--error-rate', '2'], /--error-rate must be a number from 0 to 1/],
    [['--bogus'], /unknown option --bogus/],
    [['--max-subagent', '3'], /unknown option --max-subagent; did you mean --max-subagents\?/],
    [['--sed', '3'], /unknown option --sed; did you mean --seed\?/],
    [['--task', 'a', '--input', 'b'], /not both/],
  ])('rejects %j with a clear message', (argv, message) => {
    expect(messageOf(argv)).toMatch(message);
  });

  it('keeps --max-subagents within PARL_MAX_SUBAGENTS_CAP when it is set', () => {
    expect(() => parseRunArgs(['--max-subagents', '1001'], { PARL_MAX_SUBAGENTS_CAP: '1000' })).toThrow(
      /--max-subagents must be an integer from 1 to 1000/,
    );
    expect(parseRunArgs(['--max-subagents', '50000'], {}).request.maxSubagents).toBe(50_000);
  });

  it('rejects an input file that is not JSON or not an object, naming the file', () => {
    expect(messageOf(['--input', file('bad.json', '{ task: ')])).toMatch(/bad\.json is not valid JSON/);
    expect(messageOf(['--input', file('list.json', '[1]')])).toMatch(/must hold a JSON object/);
    expect(messageOf(['--input', file('unknown.json', '{"task":"x","colour":"red"}')])).toMatch(
      /colour: is not a known field/,
    );
  });

  it('honours the configured cap on sub-agents', () => {
    expect(() => parseRunArgs(['--max-subagents', '50'], { PARL_MAX_SUBAGENTS_CAP: '10' })).toThrow(
      /from 1 to 10,?/,
    );
  });
});
