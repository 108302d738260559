/**
 * The Step Functions API on loopback, backed by the embedded runtime: StartExecution,
 * DescribeExecution and StopExecution in the AWS JSON 1.0 protocol that `@aws-sdk/client-sfn`
 * speaks. Functions that start jobs (the API) use the SDK client against this endpoint locally
 * and against Step Functions in the cloud: the same code path.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ParlError } from '#shared/domain/errors';

/** An execution of the local runtime, as DescribeExecution shows it. */
export interface LocalExecution {
  arn: string;
  name: string;
  input: { jobId: string; tenantId: string };
  startDate: Date;
  stopDate?: Date;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  output?: unknown;
  error?: string;
  cause?: string;
  abort(): void;
  done: Promise<void>;
}

/** What the endpoint needs of the runtime behind it: one state machine and its executions. */
export interface SfnHost {
  readonly stateMachineArn: string;
  /** An execution by ARN, if the host started it. */
  execution(arn: string): LocalExecution | undefined;
  /** Starts (or finds) the execution `name`, as StartExecution does. */
  startExecution(name: string, input: { jobId: string; tenantId: string }): LocalExecution;
}

export interface LocalSfnServer {
  endpoint: string;
  /** Requests served, by operation (e.g. `StartExecution`). */
  readonly requests: Readonly<Record<string, number>>;
  close(): Promise<void>;
}

/** An error the Step Functions API answers with 400; `type` is its `__type` (e.g. `ExecutionDoesNotExist`). */
class SfnApiError extends ParlError {
  constructor(
    readonly type: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = type;
  }
}

const epochSeconds = (d: Date | undefined) => (d ? d.getTime() / 1000 : undefined);

function describe(e: LocalExecution, stateMachineArn: string) {
  return {
    executionArn: e.arn,
    stateMachineArn,
    name: e.name,
    status: e.status,
    startDate: epochSeconds(e.startDate),
    ...(e.stopDate ? { stopDate: epochSeconds(e.stopDate) } : {}),
    input: JSON.stringify(e.input),
    ...(e.output !== undefined ? { output: JSON.stringify(e.output) } : {}),
    ...(e.error ? { error: e.error } : {}),
    ...(e.cause ? { cause: e.cause } : {}),
  };
}

type Operation = (stack: SfnHost, body: Record<string, unknown>) => unknown;

/** The execution `body.executionArn` names; ExecutionDoesNotExist as Step Functions answers. */
function requireExecution(stack: SfnHost, body: Record<string, unknown>) {
  const e = stack.execution(String(body.executionArn));
  if (!e) {
    throw new SfnApiError(
      'ExecutionDoesNotExist',
      `Execution Does Not Exist: '${String(body.executionArn)}'`,
    );
  }
  return e;
}

const OPERATIONS: Record<string, Operation> = {
  StartExecution(stack, body) {
    if (body.stateMachineArn !== stack.stateMachineArn) {
      throw new SfnApiError(
        'StateMachineDoesNotExist',
        `State Machine Does Not Exist: '${String(body.stateMachineArn)}'`,
      );
    }
    let input: unknown;
    try {
      input = JSON.parse(typeof body.input === 'string' ? body.input : '{}');
    } catch {
      throw new SfnApiError('InvalidExecutionInput', 'Invalid execution input: not JSON');
    }
    const { jobId, tenantId } = (input ?? {}) as { jobId?: unknown; tenantId?: unknown };
    if (typeof jobId !== 'string' || typeof tenantId !== 'string') {
      throw new SfnApiError('InvalidExecutionInput', 'the job workflow takes {"jobId","tenantId"}');
    }
    const name = typeof body.name === 'string' && body.name ? body.name : jobId;
    const existing = stack.execution(
      `${stack.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`,
    );
    if (existing && JSON.stringify(existing.input) !== JSON.stringify({ jobId, tenantId })) {
      throw new SfnApiError('ExecutionAlreadyExists', `Execution Already Exists: '${existing.arn}'`);
    }
    const execution = stack.startExecution(name, { jobId, tenantId });
    return { executionArn: execution.arn, startDate: epochSeconds(execution.startDate) };
  },
  DescribeExecution(stack, body) {
    return describe(requireExecution(stack, body), stack.stateMachineArn);
  },
  StopExecution(stack, body) {
    const e = requireExecution(stack, body);
    if (e.status === 'RUNNING') {
      if (typeof body.error === 'string') e.error = body.error;
      if (typeof body.cause === 'string') e.cause = body.cause;
      e.abort();
    }
    return { stopDate: epochSeconds(new Date()) };
  },
};

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
  res.end(JSON.stringify(body));
}

/** Starts the endpoint on 127.0.0.1 (a free port); `stack` is resolved per request. */
export async function startLocalSfnServer(stack: () => SfnHost): Promise<LocalSfnServer> {
  const requests: Record<string, number> = {};
  const server = createServer((req, res) => {
    void (async () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const name = target.replace(/^AWSStepFunctions\./, '');
      const operation = OPERATIONS[name];
      requests[name] = (requests[name] ?? 0) + 1;
      const text = await readBody(req);
      if (!operation) {
        send(res, 400, {
          __type: 'UnknownOperationException',
          message: `operation ${target} is not served locally`,
        });
        return;
      }
      try {
        send(res, 200, operation(stack(), text ? (JSON.parse(text) as Record<string, unknown>) : {}));
      } catch (error) {
        if (error instanceof SfnApiError) send(res, 400, { __type: error.type, message: error.message });
        else send(res, 500, { __type: 'InternalFailure', message: (error as Error).message });
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
