/**
 * A stand-in for CloudFormation's DescribeStacks on loopback (the query API the SDK speaks:
 * form-encoded POST, XML answer), so `parl --stack` reads a "deployed" stack's outputs in tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const xml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A running stand-in: its endpoint (for AWS_ENDPOINT_URL_CLOUDFORMATION), the calls it saw, close. */
export interface CloudFormationStandIn {
  endpoint: string;
  calls: { action: string | null; stackName: string | null }[];
  close(): Promise<void>;
}

/** Answers DescribeStacks for the stacks given (name → outputs); any other stack is a ValidationError. */
export function startCloudFormationStandIn(
  stacks: Record<string, Record<string, string>>,
): Promise<CloudFormationStandIn> {
  const calls: CloudFormationStandIn['calls'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const name = form.get('StackName');
      calls.push({ action: form.get('Action'), stackName: name });
      res.setHeader('content-type', 'text/xml');
      const outputs = name === null ? undefined : stacks[name];
      if (form.get('Action') !== 'DescribeStacks' || outputs === undefined) {
        res.statusCode = 400;
        res.end(
          `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${xml(name ?? '')} does not exist</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
        );
        return;
      }
      const members = Object.entries(outputs)
        .map(
          ([k, v]) => `<member><OutputKey>${xml(k)}</OutputKey><OutputValue>${xml(v)}</OutputValue></member>`,
        )
        .join('');
      res.end(
        `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>${xml(name as string)}</StackName><StackId>arn:aws:cloudformation:us-east-1:000000000000:stack/${xml(name as string)}/1</StackId><CreationTime>2026-12-02T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>`,
      );
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        calls,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    ),
  );
}
