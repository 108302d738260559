import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from './build-app.ts';

const { app } = buildApp();
// cdk-nag runs on every `cdk synth`; an unacknowledged error fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
