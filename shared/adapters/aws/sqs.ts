import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { BatchStatus } from '#shared/domain/batch';

/** A queue's messages: visible (waiting, or delayed) and in flight (received, not yet deleted). */
export interface QueueDepth {
  visible: number;
  inFlight: number;
}

/** A queue's depth from its approximate counts (any SQS endpoint: fauxqs, or SQS itself). */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<QueueDepth> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  const a = out.Attributes ?? {};
  return {
    visible: Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

/** The batch queue and its dead-letter queue, through an injected SQS client. */
export interface BatchQueues {
  sqs: SQSClient;
  queueUrl: string;
  deadLetterQueueUrl?: string;
}

/**
 * The batch intake's status: the queues' depths, and the number of jobs the intake started, which
 * the caller knows (the embedded stack counts them; the CLI asks the job search).
 */
export async function readBatchStatus(queues: BatchQueues, jobsStarted: number): Promise<BatchStatus> {
  const [queue, dlq] = await Promise.all([
    queueDepth(queues.sqs, queues.queueUrl),
    queues.deadLetterQueueUrl
      ? queueDepth(queues.sqs, queues.deadLetterQueueUrl)
      : Promise.resolve({ visible: 0, inFlight: 0 }),
  ]);
  return {
    queueDepth: queue.visible,
    inFlight: queue.inFlight,
    dlqDepth: dlq.visible + dlq.inFlight,
    jobsStarted,
  };
}
