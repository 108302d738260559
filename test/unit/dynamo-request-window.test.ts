import {
  ConditionalCheckFailedException,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoRequestWindow } from '#shared/adapters/dynamo/request-window';

const conditionFailure = () => new ConditionalCheckFailedException({ message: 'condition', $metadata: {} });
const throttled = () => new ProvisionedThroughputExceededException({ message: 'throttled', $metadata: {} });

/** The two writes of the window: counting a request in the open second, or opening a new one. */
type Write = 'count' | 'open';

/** A client that answers each write with `answer(kind)` (a rejection when it throws) and records the writes asked. */
const clientAnswering = (answer: (kind: Write) => void) => {
  const asked: Write[] = [];
  const client = {
    send: (command: UpdateCommand) => {
      const kind: Write = command.input.UpdateExpression?.startsWith('SET #n = #n') ? 'count' : 'open';
      asked.push(kind);
      try {
        answer(kind);
        return Promise.resolve({});
      } catch (error) {
        return Promise.reject(error);
      }
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, asked };
};

/** Storage errors other than a failed condition (a stub: dynalite does not throttle). */
describe('DynamoRequestWindow.admit: errors other than a failed condition', () => {
  it('fails with the storage error when counting the request fails, and opens no second over it', async () => {
    // Prepare
    const error = throttled();
    const { client, asked } = clientAnswering((kind) => {
      if (kind === 'count') throw error;
    });
    // Act
    const admitted = new DynamoRequestWindow(client, 'table', () => 5_000).admit('t1', 10);
    // Assess
    await expect(admitted).rejects.toBe(error);
    expect(asked).toEqual(['count']);
  });

  it('fails with the storage error when opening the second fails', async () => {
    // Prepare: the open second is full (or gone); opening a new one is throttled
    const error = throttled();
    const { client, asked } = clientAnswering((kind) => {
      throw kind === 'count' ? conditionFailure() : error;
    });
    // Act
    const admitted = new DynamoRequestWindow(client, 'table', () => 5_000).admit('t1', 10);
    // Assess
    await expect(admitted).rejects.toBe(error);
    expect(asked).toEqual(['count', 'open']);
  });
});
