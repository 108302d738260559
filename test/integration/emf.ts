import { createMetrics, type Telemetry, tracer } from '#shared/adapters/telemetry';

/** An Embedded Metric Format document as Powertools writes it. */
export interface EmfDocument {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

/** Telemetry whose metrics are on, as in Lambda (the tracer stays off outside it). */
export function lambdaTelemetry(): Telemetry {
  return { metrics: createMetrics({ AWS_LAMBDA_FUNCTION_NAME: 'test' }), tracer };
}

/**
 * Runs `act` and returns the EMF documents written to stdout meanwhile (Powertools writes one JSON
 * line per flush); anything else written is passed through.
 */
export async function captureEmf(act: () => unknown): Promise<EmfDocument[]> {
  const documents: EmfDocument[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    for (const line of String(chunk).split('\n')) {
      if (line.startsWith('{"_aws"') || line.includes('"CloudWatchMetrics"')) {
        documents.push(JSON.parse(line) as EmfDocument);
        continue;
      }
      if (line !== '') write(`${line}\n`, ...(rest as []));
    }
    return true;
  }) as typeof process.stdout.write;
  try {
    await act();
  } finally {
    process.stdout.write = write;
  }
  return documents;
}
