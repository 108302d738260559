import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  Choice,
  Condition,
  DefinitionBody,
  DistributedMap,
  JsonPath,
  Pass,
  S3CsvItemReader,
  S3JsonLItemReader,
  StateMachine,
  Succeed,
} from 'aws-cdk-lib/aws-stepfunctions';
import { StateMachine as LocalStateMachine } from 'aws-local-stepfunctions';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateMachineAsl } from '#cdk/asl';
import {
  type ItemReaderInput,
  readerStateName,
  s3ItemReader,
  withLocalItemReaders,
} from '#local/item-reader';
import { createS3Client } from '#shared/adapters/aws/clients';

/** A CDK state machine whose Distributed Map reads its items from S3 (JSONL or CSV), synthesized to ASL. */
function synthesizedAsl(reader: 'jsonl' | 'csv') {
  const stack = new Stack(new App(), 'ItemReaderTest');
  const fan = DistributedMap.jsonPath(stack, 'Fan', {
    itemReader:
      reader === 'jsonl'
        ? new S3JsonLItemReader({
            bucketNamePath: JsonPath.stringAt('$.bucket'),
            key: JsonPath.stringAt('$.key'),
          })
        : new S3CsvItemReader({
            bucketNamePath: JsonPath.stringAt('$.bucket'),
            key: JsonPath.stringAt('$.key'),
          }),
    itemSelector: { item: JsonPath.objectAt('$$.Map.Item.Value'), tag: JsonPath.stringAt('$.tag') },
    resultPath: '$.results',
  });
  fan.itemProcessor(Pass.jsonPath(stack, 'Each'));
  fan.addCatch(
    Pass.jsonPath(stack, 'ReaderFailed', { result: { value: 'failed' }, resultPath: '$.outcome' }),
    {
      resultPath: '$.error',
    },
  );
  const route = Choice.jsonPath(stack, 'Route')
    .when(Condition.booleanEquals('$.skip', true), Succeed.jsonPath(stack, 'Skipped'))
    .otherwise(fan);
  new StateMachine(stack, 'Machine', { definitionBody: DefinitionBody.fromChainable(route) });
  return stateMachineAsl(Template.fromStack(stack).toJSON());
}

describe('the local ItemReader (aws-local-stepfunctions has none)', () => {
  let fauxqs: FauxqsServer;
  let s3: S3Client;

  beforeAll(async () => {
    fauxqs = await startFauxqs({ port: 0, logger: false });
    s3 = createS3Client({ region: 'us-east-1', s3Endpoint: fauxqs.address });
    await s3.send(new CreateBucketCommand({ Bucket: 'items' }));
  });
  afterAll(async () => {
    s3?.destroy();
    await fauxqs?.stop();
  });

  function run(reader: 'jsonl' | 'csv', input: Record<string, unknown>) {
    const { definition, readerStates } = withLocalItemReaders(synthesizedAsl(reader));
    const read = s3ItemReader(s3);
    const machine = new LocalStateMachine(definition as never, {
      validationOptions: { checkPaths: true, checkArn: false },
    });
    const handlers = Object.fromEntries(
      readerStates.map((name) => [name, (i: unknown) => read(i as ItemReaderInput)]),
    );
    return machine.run({ skip: false, ...input } as never, {
      overrides: { taskResourceLocalHandlers: handlers as never },
    }).result as Promise<Record<string, unknown>>;
  }

  it('rewrites the synthesized Map: a reader state with the same Parameters, entered wherever the Map was', () => {
    // Prepare
    const asl = synthesizedAsl('jsonl');
    const original = asl.States.Fan as Record<string, unknown>;
    // Act
    const { definition, readerStates } = withLocalItemReaders(asl);
    // Assess
    expect(original.ItemReader).toMatchObject({
      Resource: 'arn:aws:states:::s3:getObject',
      ReaderConfig: { InputType: 'JSONL' },
      Parameters: { 'Bucket.$': '$.bucket', 'Key.$': '$.key' },
    });
    expect(readerStates).toEqual([readerStateName('Fan')]);
    const reader = definition.States[readerStateName('Fan')] as Record<string, unknown>;
    expect(reader).toMatchObject({
      Type: 'Task',
      Parameters: { 'Bucket.$': '$.bucket', 'Key.$': '$.key', ReaderConfig: { InputType: 'JSONL' } },
      Next: 'Fan',
    });
    expect(reader.Catch).toEqual(original.Catch);
    expect((definition.States.Route as { Default?: string }).Default).toBe(readerStateName('Fan'));
    expect(definition.States.Fan?.ItemReader).toBeUndefined();
    expect(asl.States.Fan?.ItemReader).toBeDefined(); // the input is left alone
  });

  it('runs the Map over the items of a JSONL object read through fauxqs S3', async () => {
    // Prepare
    const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ agentId: `agent-${i}`, n: i }));
    await s3.send(
      new PutObjectCommand({ Bucket: 'items', Key: 'plan/agents.jsonl', Body: lines.join('\n') }),
    );
    // Act
    const out = await run('jsonl', { bucket: 'items', key: 'plan/agents.jsonl', tag: 't1' });
    // Assess
    const results = out.results as { item: { agentId: string; n: number }; tag: string }[];
    expect(results).toHaveLength(1000);
    expect(results[999]).toEqual({ item: { agentId: 'agent-999', n: 999 }, tag: 't1' });
  });

  it('reads CSV rows as objects under their header', async () => {
    await s3.send(
      new PutObjectCommand({ Bucket: 'items', Key: 'rows.csv', Body: 'id,prompt\nq1,"a, b"\nq2,c\n' }),
    );
    const out = await run('csv', { bucket: 'items', key: 'rows.csv', tag: 'csv' });
    expect(out.results).toEqual([
      { item: { id: 'q1', prompt: 'a, b' }, tag: 'csv' },
      { item: { id: 'q2', prompt: 'c' }, tag: 'csv' },
    ]);
  });

  it('fails into the Map’s Catch when the object is missing, as States.ItemReaderFailed', async () => {
    const out = await run('jsonl', { bucket: 'items', key: 'missing.jsonl', tag: 'x' });
    expect(out.outcome).toBe('failed');
    expect(out.error).toMatchObject({ Error: 'States.ItemReaderFailed' });
  });
});
