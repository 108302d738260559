import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Whether V8 holds each client's configuration in fast properties, asked in a fresh Node (the first
 * clients a Lambda makes are the ones that matter) through V8's own `%HasFastProperties`, which only
 * a process started with `--allow-natives-syntax` may call.
 */
function fastConfigs(make: string): boolean[] {
  const script = `
    import * as clients from '#shared/adapters/aws/clients';
    const has = new Function('o', 'return %HasFastProperties(o)');
    const made = [${make}];
    process.stdout.write(JSON.stringify(made.map((c) => has(c.config))));
  `;
  const run = spawnSync(
    process.execPath,
    ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: root, encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(run.stderr);
  return JSON.parse(run.stdout) as boolean[];
}

describe('the AWS clients’ configuration', () => {
  it('is in fast properties for every client the factory makes, the first one in a process too', () => {
    expect(
      fastConfigs(`
        clients.createDynamoDocumentClient({ region: 'us-east-1', dynamodbEndpoint: 'http://127.0.0.1:1' }),
        clients.createDynamoClient({ region: 'us-east-1' }),
        clients.createS3Client({ region: 'us-east-1', s3Endpoint: 'http://127.0.0.1:1' }),
        clients.createSfnClient({ region: 'us-east-1' }),
        clients.createSqsClient({ region: 'us-east-1' }),
      `),
    ).toEqual([true, true, true, true, true]);
  });

  it('is not without it: the SDK leaves it in dictionary mode (what withFastConfig is for)', () => {
    expect(
      fastConfigs(`
        new (await import('@aws-sdk/client-dynamodb')).DynamoDBClient({ region: 'us-east-1' }),
      `),
    ).toEqual([false]);
  });
});
