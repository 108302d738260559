import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { logicalIdOf, synthesize } from './synth.ts';

describe('the dashboard site (S3 + CloudFront) and the API CORS for its origin only', () => {
  let s: ReturnType<typeof synthesize>;
  let distributionId: string;
  const origin = () => ({ 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }]] });

  beforeAll(() => {
    s = synthesize();
    distributionId = logicalIdOf(s.workflow.dashboardSite.distribution);
  });

  it('serves the page from a private bucket through CloudFront with origin access control, HTTPS only', () => {
    const t = s.workflowTemplate;
    t.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'bucket/' }),
    });
    t.resourceCountIs('AWS::CloudFront::OriginAccessControl', 1);
    t.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: 'index.html',
        DefaultCacheBehavior: Match.objectLike({ ViewerProtocolPolicy: 'redirect-to-https' }),
        Logging: Match.objectLike({ Prefix: 'cloudfront/' }),
      }),
    });
  });

  it('keeps the page’s bucket private: CloudFront alone reads it, through its origin access control', () => {
    const policies = Object.values(s.workflowTemplate.findResources('AWS::S3::BucketPolicy'));
    const filesBucket = logicalIdOf(s.workflow.dashboardSite.bucket);
    const policy = policies.find(
      (p) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: filesBucket }),
    );
    const statements: { Effect: string; Principal: unknown; Condition?: unknown }[] =
      policy?.Properties.PolicyDocument.Statement ?? [];
    const allows = statements.filter((st) => st.Effect === 'Allow');
    const readers = allows.filter((st) => JSON.stringify(st.Principal).includes('cloudfront.amazonaws.com'));
    expect(readers).toHaveLength(1);
    expect(JSON.stringify(readers[0]?.Condition)).toContain(
      logicalIdOf(s.workflow.dashboardSite.distribution),
    );
    expect(JSON.stringify(allows)).not.toContain('"Principal":"*"');
    expect(JSON.stringify(allows)).not.toContain('{"AWS":"*"}');
  });

  it('names the page’s URL in the DashboardSiteUrl output', () => {
    s.workflowTemplate.hasOutput('DashboardSiteUrl', { Value: origin() });
  });

  it('deploys the page with a config.json naming the API', () => {
    const deployments = s.workflowTemplate.findResources('Custom::CDKBucketDeployment');
    expect(Object.keys(deployments)).toHaveLength(1);
    const props = Object.values(deployments)[0]!.Properties as Record<string, unknown>;
    expect(JSON.stringify(props.SourceMarkers)).toContain(logicalIdOf(s.workflow.api.api));
    expect(props.DistributionId).toEqual({ Ref: distributionId });
  });

  it("allows the distribution's origin, and only it, in the preflight, the function's answers and the gateway's errors", () => {
    const t = s.workflowTemplate;
    const options = t.findResources('AWS::ApiGateway::Method', { Properties: { HttpMethod: 'OPTIONS' } });
    expect(Object.keys(options).length).toBeGreaterThan(0);
    for (const method of Object.values(options)) {
      const headers = (
        method.Properties as {
          Integration: { IntegrationResponses: { ResponseParameters: Record<string, unknown> }[] };
        }
      ).Integration.IntegrationResponses[0]!.ResponseParameters;
      expect(headers['method.response.header.Access-Control-Allow-Origin']).toEqual({
        'Fn::Join': ['', ["'https://", { 'Fn::GetAtt': [distributionId, 'DomainName'] }, "'"]],
      });
    }
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PARL_FUNCTION: 'api', PARL_CORS_ORIGIN: origin() }) },
    });
    const responses = Object.values(t.findResources('AWS::ApiGateway::GatewayResponse'));
    expect(responses.length).toBeGreaterThan(0);
    for (const r of responses) {
      expect(
        (r.Properties as { ResponseParameters: Record<string, unknown> }).ResponseParameters,
      ).toHaveProperty('gatewayresponse.header.Access-Control-Allow-Origin');
    }
  });
});
