import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEvents } from '#local/emulators/events';
import { lambdaContext } from '#local/lambda-context';
import { type SynthesizedApp, synthesizeApp } from '#local/synth';
import { createSqsClient } from '#shared/adapters/aws/clients';

describe('the local queues with a data directory (fauxqs persistence)', () => {
  let app: SynthesizedApp;
  let dir: string;

  beforeAll(() => {
    app = synthesizeApp();
    dir = mkdtempSync(join(tmpdir(), 'parl-events-'));
  });
  afterAll(() => {
    app?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = () =>
    LocalEvents.start({
      templates: app.templates,
      region: 'us-east-1',
      handlers: {},
      context: () => lambdaContext('none', 60, 512),
      dataDir: dir,
    });

  it('keeps the DLQ messages of the batch queue across a restart (parl serve stopped and started)', async () => {
    // Prepare
    const first = await start();
    const dlq = [...first.queues.values()].find((q) =>
      [...first.queues.values()].some((p) => p.deadLetterQueue?.logicalId === q.logicalId),
    );
    expect(dlq).toBeDefined();
    const sqs = createSqsClient({ region: 'us-east-1', sqsEndpoint: first.endpoint });
    await sqs.send(new SendMessageCommand({ QueueUrl: dlq?.url, MessageBody: '{"poison":true}' }));
    sqs.destroy();
    await first.close();
    // Act
    const second = await start();
    // Assess
    try {
      const again = [...second.queues.values()].find((q) => q.logicalId === dlq?.logicalId);
      expect((await second.depth(again as NonNullable<typeof again>)).visible).toBe(1);
      const client = createSqsClient({ region: 'us-east-1', sqsEndpoint: second.endpoint });
      const got = await client.send(new ReceiveMessageCommand({ QueueUrl: again?.url, WaitTimeSeconds: 1 }));
      client.destroy();
      expect(got.Messages?.map((m) => m.Body)).toEqual(['{"poison":true}']);
    } finally {
      await second.close();
    }
  });
});
