import { describe, expect, it } from 'vitest';
import { STACK_OUTPUTS } from '#shared/domain/stack-outputs';
import { logicalIdOf, synthesize } from './synth.ts';

const { workflow, workflowTemplate: template, stateful } = synthesize();
const outputs = template.toJSON().Outputs as Record<string, { Value: unknown; Description?: string }>;

describe('WorkflowStack outputs', () => {
  it('has every output an operator needs, each described', () => {
    for (const name of Object.values(STACK_OUTPUTS)) {
      expect(outputs[name], name).toBeDefined();
      expect(outputs[name]?.Description, name).toBeTruthy();
    }
  });

  it('points each output at its resource', () => {
    expect(JSON.stringify(outputs.ApiUrl?.Value)).toContain(logicalIdOf(workflow.api.api));
    expect(outputs.StateMachineArn?.Value).toEqual({ Ref: logicalIdOf(workflow.stateMachine) });
    expect(outputs.Region?.Value).toEqual({ Ref: 'AWS::Region' });
    // The stateful stack's resources come in through its exports.
    const imported = (name: string) => JSON.stringify(outputs[name]?.Value);
    expect(imported('TableName')).toContain(`ExportsOutputRef${logicalIdOf(stateful.table)}`);
    expect(imported('SecretArn')).toContain(`ExportsOutputRef${logicalIdOf(stateful.moonshotApiKey)}`);
    expect(imported('BatchQueueUrl')).toContain(`ExportsOutputRef${logicalIdOf(stateful.batch.queue)}`);
    expect(imported('BatchDlqUrl')).toContain(
      `ExportsOutputRef${logicalIdOf(stateful.batch.deadLetterQueue)}`,
    );
    expect(imported('UploadsBucket')).toContain(`ExportsOutputRef${logicalIdOf(stateful.batch.bucket)}`);
  });
});
