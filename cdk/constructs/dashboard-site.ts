import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { CfnOutput, DockerImage, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
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
 * with the local esbuild at synth), in a private S3 bucket behind CloudFront (origin access
 * control, HTTPS only, security headers, access logs). `config.json` beside the page points it at
 * the tenant API, whose CORS admits this distribution's origin only ({@link origin}).
 *
 * Build order: create the site, give {@link origin} to the API, then {@link publish} the API's URL.
 */
export class DashboardSite extends Construct {
  readonly bucket: Bucket;
  readonly logs: Bucket;
  readonly distribution: Distribution;
  /** `https://<distribution domain>`: the only origin the API's CORS allows. */
  readonly origin: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.logs = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      // CloudFront's standard logs are written with ACLs.
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
      autoDeleteObjects: false,
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
    this.origin = `https://${this.distribution.distributionDomainName}`;
    new CfnOutput(this, 'Url', { description: 'The dashboard page', value: this.origin });
  }

  /** Uploads the page and its `config.json` (the API's URL) and invalidates CloudFront's copy. */
  publish(apiUrl: string): BucketDeployment {
    const deployment = new BucketDeployment(this, 'Deploy', {
      destinationBucket: this.bucket,
      distribution: this.distribution,
      sources: [
        Source.asset(DASHBOARD_DIR, {
          bundling: {
            image: DockerImage.fromRegistry('node:22-slim'),
            local: { tryBundle: (outputDir) => buildPage(outputDir) },
          },
        }),
        Source.jsonData('config.json', { apiUrl }),
      ],
    });
    this.acknowledgeDeploymentHandler();
    return deployment;
  }

  /** CDK's bucket-deployment custom resource (a singleton Lambda of the stack) has accepted findings. */
  private acknowledgeDeploymentHandler(): void {
    for (const child of Stack.of(this).node.children) {
      if (!child.node.id.startsWith('Custom::CDKBucketDeployment')) continue;
      Validations.of(child).acknowledge(
        {
          id: 'AwsSolutions-IAM4',
          reason:
            "CDK's bucket-deployment handler: the AWS managed basic execution role only lets it write its logs",
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "CDK's bucket-deployment handler copies the asset's objects into the site bucket and invalidates the distribution",
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
