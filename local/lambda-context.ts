/** The Lambda context the embedded stack hands its in-process handlers. */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** The region every local part claims to be in. */
export const LOCAL_REGION = 'us-east-1';

/** The Lambda context of a local invocation. */
export function lambdaContext(functionName: string, timeoutSeconds: number, memory: number): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:000000000000:function:${functionName}`,
    memoryLimitInMB: String(memory),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
