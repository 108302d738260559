import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { createTelemetry, observe, type Telemetry } from '#shared/adapters/telemetry';
import { PoisonRecordError } from '#shared/domain/batch';
import {
  type BatchRecordDeps,
  type BatchRecordOutcome,
  processBatchRecord,
} from '#shared/use-cases/process-batch-record';
import { batchDeps, fromEnvironment } from '#shared/wiring';

/**
 * The batch-queue consumer. Each SQS record (a job message or an S3 upload notification) becomes
 * at most one job per idempotency key; a record that fails is reported in `batchItemFailures`
 * (Powertools batch), so only it returns to the queue, and after three receives it goes to the DLQ.
 * When every record fails the handler throws, as Powertools does, and nothing is deleted.
 */
export function createBatchHandler(
  deps: () => Promise<BatchRecordDeps>,
  logger: Logger = createLogger(),
  telemetry: Telemetry = createTelemetry(),
) {
  const inner = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const d = await deps();
    const recordHandler = async (record: SQSRecord): Promise<BatchRecordOutcome> => {
      const receiveCount = record.attributes?.ApproximateReceiveCount;
      try {
        const outcome = await processBatchRecord(d, { messageId: record.messageId, body: record.body });
        logger.info('batch record processed', { messageId: record.messageId, ...outcome });
        return outcome;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (error instanceof PoisonRecordError) {
          logger.error('poison record', {
            messageId: record.messageId,
            field: error.field,
            reason,
            receiveCount,
          });
        } else {
          logger.warn('batch record failed; it is retried', {
            messageId: record.messageId,
            reason,
            receiveCount,
          });
        }
        throw error;
      }
    };
    // One processor per invocation: it holds the invocation's successes and failures.
    return processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), { context });
  };
  return middy(inner).use(injectLambdaContext(logger)).use(observe(telemetry));
}

// Built on first use (a bad environment fails the invocation, naming the variable) and kept warm.
export const handler = createBatchHandler(fromEnvironment((config) => batchDeps(config)));
