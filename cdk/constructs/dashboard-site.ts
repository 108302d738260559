import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CfnElement,
  DefaultStackSynthesizer,
  DockerImage,
  Duration,
  RemovalPolicy,
  Stack,
  Validations,
} from 'aws-cdk-lib';
import {
  Distribution,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { buildSync } from 'esbuild';
import { REPO_ROOT } from './handler-function.ts';

const DASHBOARD_DIR = join(REPO_ROOT, 'dashboard');

/**
 * The dashboard page in the cloud: the same static files `parl serve` serves (dashboard/, built
 * with the local esbuild at synth, no Docker), in a private S3 bucket read by CloudFront only
 * (origin access control), HTTPS only, security headers, access logs of the bucket and the
 * distribution. `config.json` beside the page names the tenant API, whose CORS admits this
 * distribution's origin only ({@link origin}).
 *
 * Build order: create the site, give {@link origin} to the API, then {@link publish} the API's URL.
 */
export class DashboardSite extends Construct {
  /** The page's files: private, emptied and deleted with the stack (rebuilt at every deploy). */
  readonly bucket: Bucket;
  /** Access logs of the bucket and the distribution (kept 90 days; retained with the stack). */
  readonly logs: Bucket;
  readonly distribution: Distribution;
  /** `https://<distribution domain>`: the page's URL, and the only origin the API's CORS allows. */
  readonly origin: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.logs = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      // CloudFront's standard logs are delivered with ACLs.
      objectOwnership: ObjectOwnership.OBJECT_WRITER,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ expiration: Duration.days(90) }],
    });
    Validations.of(this.logs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: "This bucket receives the dashboard site's access logs; logging it would recurse",
    });
    this.bucket = new Bucket(this, 'Files', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      removalPolicy: RemovalPolicy.DESTROY,
      // Only build output lives here: a teardown empties it rather than failing on a full bucket.
      autoDeleteObjects: true,
      serverAccessLogsBucket: this.logs,
      serverAccessLogsPrefix: 'bucket/',
    });
    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'PARL Swarm dashboard',
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        responseHeadersPolicy: ResponseHeadersPolicy.SECURITY_HEADERS,
      },
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: this.logs,
      logFilePrefix: 'cloudfront/',
    });
    this.acknowledgeDistribution();
    this.origin = `https://${this.distribution.distributionDomainName}`;
  }

  /** Uploads the page and its `config.json` (the API's URL) and invalidates CloudFront's copy. */
  publish(apiUrl: string): BucketDeployment {
    const deployment = new BucketDeployment(this, 'Deploy', {
      destinationBucket: this.bucket,
      distribution: this.distribution,
      sources: [
        Source.asset(DASHBOARD_DIR, {
          bundling: {
            // Never pulled: the local build below always succeeds or throws.
            image: DockerImage.fromRegistry('node:22-slim'),
            local: { tryBundle: (outputDir) => buildPage(outputDir) },
          },
        }),
        Source.jsonData('config.json', { apiUrl }),
      ],
    });
    this.acknowledgeStackSingletons();
    return deployment;
  }

  private acknowledgeDistribution(): void {
    Validations.of(this.distribution).acknowledge(
      {
        id: 'AwsSolutions-CFR1',
        reason: 'A static page without data; every tenant reaches its data through the API with its key',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason: 'A static page without data; the API behind it has stage throttling and a key per tenant',
      },
      {
        id: 'AwsSolutions-CFR4',
        reason:
          'The default *.cloudfront.net certificate (no custom domain in this app); viewers are redirected to HTTPS',
      },
    );
  }

  /**
   * CDK's bucket-deployment handler (a stack singleton) has accepted findings, each named exactly:
   * it writes its logs, reads the page's asset from CDK's bootstrap bucket, replaces the site
   * bucket's objects and invalidates the distribution (CloudFront takes no resource-level ARN here).
   */
  private acknowledgeStackSingletons(): void {
    const stack = Stack.of(this);
    const files = stack.getLogicalId(this.bucket.node.defaultChild as CfnElement);
    const assets = `arn:<AWS::Partition>:s3:::cdk-${DefaultStackSynthesizer.DEFAULT_QUALIFIER}-assets-<AWS::AccountId>-<AWS::Region>/*`;
    const copies = "CDK's bucket-deployment handler copies the page's asset into the site bucket (s3 sync)";
    for (const child of stack.node.children) {
      if (!child.node.id.startsWith('Custom::CDKBucketDeployment')) continue;
      Validations.of(child).acknowledge(
        {
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason:
            "CDK's bucket-deployment handler: the AWS managed basic execution role only lets it write its logs",
        },
        ...['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'].map((action) => ({
          id: `AwsSolutions-IAM5[Action::${action}]`,
          reason: copies,
        })),
        { id: `AwsSolutions-IAM5[Resource::<${files}.Arn>/*]`, reason: copies },
        { id: `AwsSolutions-IAM5[Resource::${assets}]`, reason: copies },
        {
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: 'cloudfront:CreateInvalidation / GetInvalidation take no resource-level ARN in its policy',
        },
        { id: 'AwsSolutions-L1', reason: "CDK's bucket-deployment handler: its runtime is CDK's choice" },
      );
    }
  }
}

/** Builds the page as `parl serve` does (dashboard/build.ts), into the asset's directory. */
function buildPage(outputDir: string): boolean {
  buildSync({
    entryPoints: [join(DASHBOARD_DIR, 'src/main.ts')],
    bundle: true,
    outdir: outputDir,
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    tsconfig: join(DASHBOARD_DIR, 'tsconfig.json'),
    logLevel: 'warning',
  });
  copyFileSync(join(DASHBOARD_DIR, 'index.html'), join(outputDir, 'index.html'));
  return true;
}
