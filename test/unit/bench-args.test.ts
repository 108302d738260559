import { describe, expect, it } from 'vitest';
import { integerListArg, numberArg, parseBenchArgs, SuiteUsageError } from '../../bench/common';
import { SUITES, suitesHelp } from '../../bench/suites/index';

describe('parseBenchArgs', () => {
  it('reads --name value, --name=value and bare flags of the chosen suite', () => {
    const args = parseBenchArgs(['--suite', 'ab', '--runs=5', '--latency-scale', '0.1', '--help'], SUITES);
    expect(args).toEqual({ suite: 'ab', runs: '5', 'latency-scale': '0.1', help: 'true' });
  });

  it('refuses an option the suite does not list, naming it and the suite options', () => {
    expect(() => parseBenchArgs(['--suite', 'pipeline', '--rep', '5'], SUITES)).toThrow(
      /suite "pipeline" has no option --rep \(its options: --reps, /,
    );
  });

  it.each([
    [['--suite', 'nope'], /unknown suite "nope"/],
    [['runs'], /unexpected argument "runs"/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseBenchArgs(argv, SUITES)).toThrow(message);
  });

  it('takes -h as --help and defaults to the pipeline suite', () => {
    expect(parseBenchArgs(['-h'], SUITES)).toEqual({ help: 'true' });
  });
});

describe('numberArg', () => {
  it('gives the default when absent and refuses a value that is not a non-negative number', () => {
    expect(numberArg({}, 'runs', 7)).toBe(7);
    expect(numberArg({ runs: '3' }, 'runs', 7)).toBe(3);
    expect(() => numberArg({ runs: 'many' }, 'runs', 7)).toThrow(SuiteUsageError);
    expect(() => numberArg({ runs: '-1' }, 'runs', 7)).toThrow(
      '--runs must be a non-negative number, got "-1"',
    );
  });
});

describe('integerListArg', () => {
  const bounds = { min: 1, max: 100 };
  it('gives the list as given, or the default, and refuses one out of bounds (the default too)', () => {
    expect(integerListArg({ widths: '50,10' }, 'widths', '1,10', bounds)).toEqual([50, 10]);
    expect(integerListArg({}, 'widths', '1,10', bounds)).toEqual([1, 10]);
    expect(() => integerListArg({ widths: '10,x' }, 'widths', '1,10', bounds)).toThrow(
      '--widths must be integers from 1 to 100, got "10,x"',
    );
    expect(() => integerListArg({ widths: '0' }, 'widths', '1,10', bounds)).toThrow(SuiteUsageError);
    expect(() => integerListArg({}, 'widths', '1,1000', bounds)).toThrow(
      '--widths must be integers from 1 to 100, got the default "1,1000"',
    );
  });
});

describe('suitesHelp', () => {
  it('lists every suite with its options, or one suite', () => {
    const all = suitesHelp();
    for (const name of Object.keys(SUITES)) expect(all).toContain(`--suite ${name}:`);
    const ab = suitesHelp('ab');
    expect(ab).toContain('--runs N');
    expect(ab).not.toContain('--suite pipeline:');
  });
});
