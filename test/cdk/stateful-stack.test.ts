import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { synthesize } from './synth.ts';

const { statefulTemplate: template } = synthesize();

describe('StatefulStack', () => {
  it('has one table keyed by pk/sk, billed per request, with PITR, AWS-managed encryption and TTL', () => {
    // Prepare / Act: synthesized once above
    // Assess
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      TableName: Match.absent(),
    });
  });

  it('has the gsi1 index for a tenant’s jobs, projecting all attributes', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
        { AttributeName: 'gsi1sk', AttributeType: 'S' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: 'gsi1',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  it('keeps the stable logical id of the table', () => {
    expect(Object.keys(template.findResources('AWS::DynamoDB::Table'))).toEqual([
      expect.stringMatching(/^Data[0-9A-F]{8}$/),
    ]);
  });

  it.each(['AWS::DynamoDB::Table', 'AWS::SecretsManager::Secret'])('retains the %s on deletion', (type) => {
    template.hasResource(type, { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('has the Moonshot API key secret', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    expect(Object.keys(template.findResources('AWS::SecretsManager::Secret'))).toEqual([
      expect.stringMatching(/^MoonshotApiKey/),
    ]);
  });
});
