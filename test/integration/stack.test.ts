import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CloudFormationStandIn, startCloudFormationStandIn } from './cloudformation-stand-in.ts';

const root = new URL('../..', import.meta.url).pathname;
const base = { ...process.env, MOONSHOT_API_KEY: '', MOONSHOT_BASE_URL: '', FORCE_COLOR: '0' };

interface ServeInfo {
  apiUrl: string;
  pid: number;
  startedAt: string;
  tableName: string;
  dynamodbEndpoint: string;
}

/** The embedded stack's API (`parl serve`) as the "deployed" stack's resources. */
async function serve(dataDir: string): Promise<{ child: ChildProcess; info: ServeInfo }> {
  const child = spawn(
    'npx',
    ['parl', 'serve', '--port', '0', '--data-dir', dataDir, '--latency-scale', '0'],
    {
      cwd: root,
      env: base,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const file = join(dataDir, 'serve.json');
  for (let i = 0; i < 3000; i++) {
    if (existsSync(file)) return { child, info: JSON.parse(readFileSync(file, 'utf8')) as ServeInfo };
    if (child.exitCode !== null) throw new Error(`parl serve exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`parl serve did not start: ${stderr}`);
}

describe('parl --stack against a deployed stack (the embedded stack’s endpoints, a CloudFormation stand-in)', () => {
  let dataDir: string;
  let server: { child: ChildProcess; info: ServeInfo };
  let cloudformation: CloudFormationStandIn;
  let env: NodeJS.ProcessEnv;
  // The CLI runs in another directory than the data's: only the stack's outputs lead it to the table.
  let elsewhere: string;
  // Not spawnSync: the stand-in answers from this process, which must keep running meanwhile.
  const parl = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(root, 'bin', 'parl.mjs'), ...args],
        { cwd: elsewhere, env, encoding: 'utf8', timeout: 180_000 },
        (error, stdout, stderr) => {
          const code = (error as { code?: unknown } | null)?.code;
          resolve({ status: error ? (typeof code === 'number' ? code : null) : 0, stdout, stderr });
        },
      );
    });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'parl-stack-'));
    elsewhere = mkdtempSync(join(tmpdir(), 'parl-stack-cwd-'));
    server = await serve(dataDir);
    cloudformation = await startCloudFormationStandIn({
      ParlWorkflow: {
        ApiUrl: server.info.apiUrl,
        TableName: server.info.tableName,
        StateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:Workflow',
        Region: 'us-east-1',
      },
    });
    env = {
      ...base,
      PARL_DATA_DIR: join(elsewhere, 'nothing-here'),
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: 'eu-west-3',
      AWS_ENDPOINT_URL_CLOUDFORMATION: cloudformation.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: server.info.dynamodbEndpoint,
    };
  }, 600_000);

  afterAll(async () => {
    if (server) process.kill(server.info.pid, 'SIGTERM');
    await cloudformation?.close();
    await new Promise((r) => setTimeout(r, 1000));
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(elsewhere, { recursive: true, force: true });
  });

  it('creates a tenant in the stack’s table, runs a job through its API and reads it back', async () => {
    // Act: the first tenant, through the stack's outputs
    const created = await parl([
      '--stack',
      'ParlWorkflow',
      'tenants',
      'create',
      '--name',
      'acme',
      '--budget-usd',
      '5',
      '--json',
    ]);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    const { tenantId, apiKey } = JSON.parse(created.stdout) as { tenantId: string; apiKey: string };
    expect(cloudformation.calls).toContainEqual({ action: 'DescribeStacks', stackName: 'ParlWorkflow' });
    // Act: a first job over the API URL the stack names
    const outputs = JSON.parse((await parl(['--stack', 'ParlWorkflow', 'outputs', '--json'])).stdout) as {
      outputs: { apiUrl: string; tableName: string; region: string };
    };
    expect(outputs.outputs).toMatchObject({
      apiUrl: server.info.apiUrl,
      tableName: server.info.tableName,
      region: 'us-east-1',
    });
    const headers = { 'x-api-key': apiKey, 'content-type': 'application/json' };
    const submitted = await fetch(`${outputs.outputs.apiUrl}/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ task: 'Answer', subtasks: ['Is 2+2 4?', 'Is the sky green?'] }),
    });
    expect(submitted.status).toBe(202);
    const { jobId } = (await submitted.json()) as { jobId: string };
    let job: { status: string; metrics?: { costUsd: number; awsCostUsd: number; totalCostUsd: number } } = {
      status: 'ACCEPTED',
    };
    for (let i = 0; i < 600 && !['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(job.status); i++) {
      await new Promise((r) => setTimeout(r, 250));
      job = (await (
        await fetch(`${outputs.outputs.apiUrl}/v1/jobs/${jobId}`, { headers })
      ).json()) as typeof job;
    }
    // Assess: the job ran, the tenant's budget paid for it, seen through the stack again
    expect(job.status).toBe('SUCCEEDED');
    expect(job.metrics?.awsCostUsd).toBeGreaterThan(0);
    const listed = await parl(['--stack', 'ParlWorkflow', 'tenants', 'list', '--json']);
    const tenant = (
      JSON.parse(listed.stdout) as { tenants: { tenantId: string; spentUsd: number }[] }
    ).tenants.find((t) => t.tenantId === tenantId);
    expect(tenant?.spentUsd).toBeCloseTo(job.metrics?.costUsd ?? -1, 6);
    const exported = await parl(['--stack', 'ParlWorkflow', 'trajectories', 'export', '--tenant', tenantId]);
    expect(exported.status).toBe(0);
    const lines = exported.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { jobId: string });
    expect(lines.map((l) => l.jobId)).toEqual([jobId]);
    // and nothing was written where the CLI ran
    expect(existsSync(join(elsewhere, 'nothing-here'))).toBe(false);
  }, 600_000);

  it.each([
    [
      ['--stack', 'Missing', 'tenants', 'list'],
      /cannot read the outputs of stack "Missing" in eu-west-3: Stack with id Missing does not exist/,
    ],
    [
      ['--stack', 'ParlWorkflow', 'run'],
      /parl --stack runs tenants, policy, trajectories, outputs; "run" acts on the local stack only/,
    ],
    [['--stack'], /--stack needs a value/],
    [
      ['--stack', 'ParlWorkflow', 'tenants', 'list', '--data-dir', '.parl'],
      /--data-dir and --stack do not go together/,
    ],
  ])('refuses %j with a message and exit code 2', async (args, message) => {
    const out = await parl(args);
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(message);
  });
});
