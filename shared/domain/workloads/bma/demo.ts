import { generateInstallations } from './data';
import { bmaSubtaskPrompt } from './prompts';
import { EXAMPLE_RULE_SET, evaluateInstallation } from './rules';
import { BMA_WORKLOAD } from './workload';

/** The demo job as a raw request (what a user would put in `--input`): N installations with ground truth. */
export function bmaDemoRequest(count = 100, seed = 1): Record<string, unknown> {
  const installations = generateInstallations(count, seed);
  return {
    task: `Check ${count} fire-alarm installations (BMA) for compliance with the ${EXAMPLE_RULE_SET.ruleSet} rule set.`,
    taskClass: BMA_WORKLOAD,
    workload: BMA_WORKLOAD,
    subtasks: installations.map((inst) => ({
      id: inst.id,
      prompt: bmaSubtaskPrompt(inst.id),
      expected: evaluateInstallation(inst).verdict,
    })),
    dataset: { installations },
  };
}
