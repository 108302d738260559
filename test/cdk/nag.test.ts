import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { buildApp } from '#cdk/build-app';
import { NO_BUNDLING } from './synth.ts';

describe('cdk-nag AwsSolutions checks', () => {
  it('find no unacknowledged error or warning in either stack', () => {
    // Prepare
    const { app } = buildApp({ ...NO_BUNDLING });
    const checks = new AwsSolutionsChecks(app);
    Validations.of(app).addPlugins(checks);
    // Act: synthesis runs the plugin and throws on a failing report
    app.synth();
    const report = checks.validateScope(app);
    // Assess
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
  });
});
