import { createSocket, type Socket } from 'node:dgram';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDynamo } from '#local/emulators/dynamo';
import type { Simulator } from '#local/simulator/server';

/** A subsegment as the X-Ray SDK sends it to the daemon. */
interface Subsegment {
  name: string;
  id: string;
  parent_id?: string;
  trace_id?: string;
  namespace?: string;
  annotations?: Record<string, unknown>;
  metadata?: Record<string, Record<string, unknown>>;
  aws?: Record<string, unknown>;
  subsegments?: Subsegment[];
}

const TRACE_ID = '1-5759e988-bd862e3fe1be46a994272793';

/** What Lambda sets (the daemon's address is added once the socket is bound). */
const LAMBDA_ENV = {
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
  LAMBDA_TASK_ROOT: '/var/task',
  AWS_LAMBDA_FUNCTION_NAME: 'subagent',
  AWS_XRAY_LOG_LEVEL: 'silent',
  _X_AMZN_TRACE_ID: `Root=${TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1`,
};

/**
 * Powertools Tracer in a Lambda-like process: the X-Ray SDK in Lambda mode (LAMBDA_TASK_ROOT, a
 * trace header in _X_AMZN_TRACE_ID) sends every closed subsegment over UDP to the daemon, which
 * here is a socket on 127.0.0.1. The modules under test are imported after the environment is set,
 * in this test file's own process.
 */
describe('the traces in Lambda (an X-Ray daemon on 127.0.0.1)', () => {
  let daemon: Socket;
  let dynamo: LocalDynamo;
  let sim: Simulator;
  const received: Subsegment[] = [];

  beforeAll(async () => {
    daemon = createSocket('udp4');
    daemon.on('message', (message) => {
      // "{header}\n{document}": the header names the format, the document is one subsegment.
      const [, body] = message.toString('utf8').split('\n');
      if (body) received.push(JSON.parse(body) as Subsegment);
    });
    await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
    Object.assign(process.env, LAMBDA_ENV, { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.address().port}` });
    // Imported now: the tracer is made (on or off) when its module is first loaded.
    const { startDynalite } = await import('#local/emulators/dynamo');
    const { startSimulator } = await import('#local/simulator/server');
    dynamo = await startDynalite();
    sim = await startSimulator({ latencyScale: 0 });
  });
  afterAll(async () => {
    for (const name of [...Object.keys(LAMBDA_ENV), 'AWS_XRAY_DAEMON_ADDRESS']) delete process.env[name];
    daemon?.close();
    await dynamo?.close();
    await sim?.close();
  });

  /** Waits until the daemon has received a subsegment that `match` accepts. */
  async function receivedWhere(match: (s: Subsegment) => boolean): Promise<Subsegment> {
    for (let i = 0; i < 100; i += 1) {
      const found = received.find(match);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no such subsegment among ${received.map((s) => s.name).join(', ') || 'none'}`);
  }

  it('records a model call as "### model.chat" with the model, role and tokens, its HTTP request under it', async () => {
    // Prepare
    const { createTelemetry, ObservedLlm } = await import('#shared/adapters/telemetry');
    const { OpenAiLlm } = await import('#shared/adapters/llm/openai-llm');
    const telemetry = createTelemetry();
    expect(telemetry.tracer.isTracingEnabled()).toBe(true);
    const provider = new OpenAiLlm({ baseUrl: sim.baseUrl, apiKey: 'k', model: 'kimi-k2.5' });
    const llm = new ObservedLlm(provider, telemetry);
    // Act
    const response = await llm.chat({
      messages: [{ role: 'user', content: 'What is 2 + 2?' }],
      caller: { role: 'subagent', tenantId: 't' },
    });
    // Assess
    const call = await receivedWhere((s) => s.name === '### model.chat');
    expect(call.trace_id).toBe(TRACE_ID);
    expect(call.annotations).toEqual({ model: 'kimi-k2.5', role: 'subagent' });
    expect(call.metadata?.default?.usage).toEqual(response.usage);
    expect(call.metadata?.default?.finishReason).toBe(response.finishReason);
    const http = await receivedWhere((s) => s.name === '127.0.0.1' && s.parent_id === call.id);
    expect(http.namespace).toBe('remote');
  });

  it('records each call of a client from the client factory as an AWS subsegment', async () => {
    // Prepare
    const { createDynamoDocumentClient } = await import('#shared/adapters/aws/clients');
    const doc = createDynamoDocumentClient({ region: 'us-east-1', dynamodbEndpoint: dynamo.endpoint });
    // Act: the table does not exist; the call is traced all the same, with its error.
    const error = await doc
      .send(new GetCommand({ TableName: 'absent', Key: { pk: 'a', sk: 'b' } }))
      .catch((e: unknown) => e);
    // Assess
    const call = await receivedWhere((s) => s.name === 'DynamoDB');
    expect(call.namespace).toBe('aws');
    expect(call.aws).toMatchObject({ operation: 'GetItem', table_name: 'absent' });
    expect((error as Error).name).toBe('ResourceNotFoundException');
  });
});
