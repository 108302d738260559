import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CloudFormationStandIn, startCloudFormationStandIn } from './cloudformation-stand-in.ts';
import { parlCommand } from './parl-process';

const root = new URL('../..', import.meta.url).pathname;
const base = { ...process.env, MOONSHOT_API_KEY: '', MOONSHOT_BASE_URL: '', FORCE_COLOR: '0' };

interface ServeInfo {
  apiUrl: string;
  pid: number;
  startedAt: string;
  tableName: string;
  dynamodbEndpoint: string;
  batch: { endpoint: string; queueUrl: string; deadLetterQueueUrl: string; bucket: string };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** The embedded stack's API (`parl serve`) as the "deployed" stack's resources. */
async function serve(dataDir: string): Promise<{ child: ChildProcess; info: ServeInfo }> {
  const child = spawn(
    ...parlCommand(['serve', '--port', '0', '--data-dir', dataDir, '--latency-scale', '0']),
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
  const parl = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        ...parlCommand(args),
        { cwd: elsewhere, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 180_000 },
        (error, stdout, stderr) => {
          const code = (error as { code?: unknown } | null)?.code;
          resolve({ status: error ? (typeof code === 'number' ? code : null) : 0, stdout, stderr });
        },
      );
    });

  const Gone: Record<string, string> = { Region: 'us-east-1' };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'parl-stack-'));
    elsewhere = mkdtempSync(join(tmpdir(), 'parl-stack-cwd-'));
    server = await serve(dataDir);
    Gone.TableName = server.info.tableName;
    cloudformation = await startCloudFormationStandIn({
      ParlWorkflow: {
        ApiUrl: server.info.apiUrl,
        TableName: server.info.tableName,
        StateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:Workflow',
        BatchQueueUrl: server.info.batch.queueUrl,
        BatchDlqUrl: server.info.batch.deadLetterQueueUrl,
        UploadsBucket: server.info.batch.bucket,
        Region: 'us-east-1',
      },
      // A stack whose API nothing answers (deleted, or another account's): its port is taken just
      // before the test that asks it (one taken here could be a server's again by then).
      Gone,
    });
    env = {
      ...base,
      PARL_DATA_DIR: join(elsewhere, 'nothing-here'),
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: 'eu-west-3',
      AWS_ENDPOINT_URL_CLOUDFORMATION: cloudformation.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: server.info.dynamodbEndpoint,
      AWS_ENDPOINT_URL_SQS: server.info.batch.endpoint,
      AWS_ENDPOINT_URL_S3: server.info.batch.endpoint,
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
    // Act: followed through the stack's API with the tenant's key, as parl jobs does locally
    const watched = await parl([
      '--stack',
      'ParlWorkflow',
      'jobs',
      'watch',
      jobId,
      '--interval-ms',
      '100',
      '--json',
      '--key',
      apiKey,
    ]);
    const job = JSON.parse(watched.stdout) as {
      jobId: string;
      status: string;
      metrics?: { costUsd: number; awsCostUsd: number; totalCostUsd: number };
    };
    // Assess: the job ran, the tenant's budget paid for it, seen through the stack again
    expect(watched.status).toBe(0);
    expect(job).toMatchObject({ jobId, status: 'SUCCEEDED' });
    const shown = await parl(['--stack', 'ParlWorkflow', 'jobs', 'show', jobId, '--key', apiKey]);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toContain(jobId);
    expect(shown.stdout).toContain('SUCCEEDED');
    const jobs = await parl(['--stack', 'ParlWorkflow', 'jobs', 'list', '--json'], { PARL_API_KEY: apiKey });
    expect((JSON.parse(jobs.stdout) as { items: { jobId: string }[] }).items.map((j) => j.jobId)).toEqual([
      jobId,
    ]);
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

  it('submits a batch to the stack’s queue and bucket, waits for its jobs and reads the queue’s status', async () => {
    // Prepare: a tenant of the stack, a file of two job requests and a file of subtasks
    const created = await parl([
      '--stack',
      'ParlWorkflow',
      'tenants',
      'create',
      '--name',
      'batchco',
      '--budget-usd',
      '5',
      '--json',
    ]);
    const { tenantId, apiKey } = JSON.parse(created.stdout) as { tenantId: string; apiKey: string };
    const requests = join(elsewhere, 'jobs.jsonl');
    writeFileSync(
      requests,
      '{"task":"Answer","subtasks":["Is 2+2 4?"]}\n{"task":"Answer","subtasks":["Is ice cold?"]}\n',
    );
    const checks = join(elsewhere, 'checks.csv');
    writeFileSync(checks, 'prompt\nIs the sky blue?\nIs fire cold?\n');
    // Act: both through the stack's outputs (BatchQueueUrl, UploadsBucket)
    const sent = await parl([
      '--stack',
      'ParlWorkflow',
      'batch',
      'submit',
      requests,
      '--tenant',
      tenantId,
      '--wait',
      '--json',
      '--quiet',
    ]);
    const uploaded = await parl([
      '--stack',
      'ParlWorkflow',
      'batch',
      'submit',
      checks,
      '--tenant',
      tenantId,
      '--wait',
      '--json',
      '--quiet',
    ]);
    const status = await parl(['--stack', 'ParlWorkflow', 'batch', 'status', '--json']);
    // Assess: every job SUCCEEDED, the upload on the stack's bucket, the queue drained
    expect(sent.stderr).toBe('');
    expect(sent.status).toBe(0);
    const messages = JSON.parse(sent.stdout) as {
      server: string;
      sent: { messages: number };
      ended: { status: string }[];
    };
    expect(messages).toMatchObject({ server: server.info.apiUrl, sent: { messages: 2 } });
    expect(messages.ended.map((e) => e.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(uploaded.status).toBe(0);
    const upload = JSON.parse(uploaded.stdout) as {
      sent: { upload: { bucket: string; key: string } };
      jobs: { jobId: string }[];
      ended: { status: string }[];
    };
    expect(upload.sent.upload).toEqual({
      bucket: server.info.batch.bucket,
      key: `incoming/${tenantId}/checks.csv`,
    });
    expect(upload.ended.map((e) => e.status)).toEqual(['SUCCEEDED']);
    expect(status.status).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual({ queueDepth: 0, inFlight: 0, dlqDepth: 0, jobsStarted: 3 });
    // and the tenant sees the three jobs through the stack's API
    const listed = await parl(['--stack', 'ParlWorkflow', 'jobs', 'list', '--json', '--key', apiKey]);
    expect((JSON.parse(listed.stdout) as { items: unknown[] }).items).toHaveLength(3);
  }, 600_000);

  it('says which API did not answer, and that it is the stack’s, with exit code 1', async () => {
    Gone.ApiUrl = `http://127.0.0.1:${await closedPort()}/prod/`;
    const out = await parl(['--stack', 'Gone', 'jobs', 'list', '--key', 'parl_x']);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(
      /cannot reach the API at http:\/\/127\.0\.0\.1:\d+\/prod: connection refused \(ECONNREFUSED\) \(the stack's ApiUrl output; is the stack deployed\?\)/,
    );
  });

  it.each([
    [
      ['--stack', 'Missing', 'tenants', 'list'],
      /cannot read the outputs of stack "Missing" in eu-west-3: Stack with id Missing does not exist/,
    ],
    [
      ['--stack', 'ParlWorkflow', 'run'],
      /parl --stack runs tenants, policy, trajectories, jobs, batch, outputs; "run" acts on the local stack only/,
    ],
    [
      ['--stack', 'ParlWorkflow', 'jobs', 'list', '--key', 'parl_x', '--url', 'http://127.0.0.1:9'],
      /--url and --stack do not go together: the stack's ApiUrl output is the API/,
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
