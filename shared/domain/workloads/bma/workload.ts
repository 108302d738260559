/**
 * The `bma-compliance` workload: check fire-alarm installations (BMA) for compliance with a rule
 * set. Sub-agents read the facts through two tools (`get_installation`, `list_rules`) and reply
 * with a verdict; the request carries the installations as `dataset.installations`.
 */
import { RequestValidationError } from '#shared/domain/errors';
import { type Dataset, defineWorkload } from '../workload';
import { checkBmaSubject, isBmaAnswerCorrect, parseBmaAnswer } from './answers';
import { bmaSubagentSystemPrompt } from './prompts';
import { bmaTools, INSTALLATIONS, runBmaTool } from './tools';

/** The workload's name, as requests and stored jobs carry it. */
export const BMA_WORKLOAD = 'bma-compliance';

/** Every installation needs a string id: the tools look them up by it. */
function checkInstallations(dataset: Dataset | undefined): void {
  (dataset?.[INSTALLATIONS] ?? []).forEach((inst, i) => {
    if (typeof (inst as { id?: unknown })?.id !== 'string') {
      throw new RequestValidationError(`dataset.${INSTALLATIONS}[${i}].id`, 'must be a string');
    }
  });
}

export const bmaWorkload = defineWorkload({
  name: BMA_WORKLOAD,
  datasetKey: INSTALLATIONS,
  systemPrompt: bmaSubagentSystemPrompt,
  tools: bmaTools,
  runTool: runBmaTool,
  parseAnswer: parseBmaAnswer,
  checkAnswer: checkBmaSubject,
  isCorrect: isBmaAnswerCorrect,
  requireDataset(dataset) {
    if (!dataset?.[INSTALLATIONS]) {
      throw new RequestValidationError(
        `dataset.${INSTALLATIONS}`,
        `is required by the ${BMA_WORKLOAD} workload`,
      );
    }
  },
  checkDataset: checkInstallations,
  datasetUnits: (dataset) => dataset?.[INSTALLATIONS]?.length,
});
