/**
 * The rules of the `bma` workload: fire-alarm installations (BMA, Brandmeldeanlagen) and the rule
 * set they are checked against; `evaluateInstallation` is the ground truth.
 *
 * EXAMPLE RULE SET, FOR DEMONSTRATION ONLY. The rules below are loosely modelled on common
 * inspection and maintenance practice for fire-alarm systems; they are not a statement of any
 * standard or law and must not be used to judge a real installation.
 */

export type Verdict = 'compliant' | 'non_compliant';

export interface Detector {
  id: string;
  type: 'optical' | 'heat' | 'multi';
  installedOn: string;
}

export interface Defect {
  id: string;
  severity: 'critical' | 'minor';
  reportedOn: string;
  description: string;
}

export interface Installation {
  id: string;
  site: string;
  lastInspection: string;
  lastMaintenance: string;
  batteryInstalledOn: string;
  detectors: Detector[];
  openDefects: Defect[];
}

/** A rule is data, so the same set can be shown to a model (`list_rules`) and evaluated here. */
export type Rule =
  | {
      id: string;
      title: string;
      kind: 'max_days_since';
      field: 'lastInspection' | 'lastMaintenance' | 'batteryInstalledOn';
      maxDays: number;
    }
  | { id: string; title: string; kind: 'max_detector_age_days'; maxDays: number }
  | { id: string; title: string; kind: 'no_open_defects'; severity: 'critical' }
  | { id: string; title: string; kind: 'max_open_defect_age_days'; severity: 'minor'; maxDays: number };

export interface RuleSet {
  ruleSet: string;
  label: string;
  /** The audit date every age is measured against. */
  asOf: string;
  rules: Rule[];
}

/** The example rule set the demo ships (clearly labelled; see the module comment). */
export const EXAMPLE_RULE_SET: RuleSet = {
  ruleSet: 'EXAMPLE-BMA-2026',
  label: 'Example rule set for demonstration only; not a standard, not legal advice.',
  asOf: '2026-11-01',
  rules: [
    {
      id: 'R1',
      title: 'Inspection at most 92 days ago (quarterly)',
      kind: 'max_days_since',
      field: 'lastInspection',
      maxDays: 92,
    },
    {
      id: 'R2',
      title: 'Maintenance at most 366 days ago (yearly)',
      kind: 'max_days_since',
      field: 'lastMaintenance',
      maxDays: 366,
    },
    {
      id: 'R3',
      title: 'No automatic detector older than 8 years',
      kind: 'max_detector_age_days',
      maxDays: 2922,
    },
    {
      id: 'R4',
      title: 'Emergency-power battery at most 4 years old',
      kind: 'max_days_since',
      field: 'batteryInstalledOn',
      maxDays: 1461,
    },
    { id: 'R5', title: 'No open critical defect', kind: 'no_open_defects', severity: 'critical' },
    {
      id: 'R6',
      title: 'No minor defect open for more than 90 days',
      kind: 'max_open_defect_age_days',
      severity: 'minor',
      maxDays: 90,
    },
  ],
};

/** One day in milliseconds (ages are whole days). */
export const DAY_MS = 86_400_000;
const daysBetween = (from: string, to: string): number =>
  Math.floor((Date.parse(to) - Date.parse(from)) / DAY_MS);

/** Whether one rule is violated by one installation. */
export function violates(rule: Rule, inst: Installation, asOf: string): boolean {
  switch (rule.kind) {
    case 'max_days_since':
      return daysBetween(inst[rule.field], asOf) > rule.maxDays;
    case 'max_detector_age_days':
      return inst.detectors.some((d) => daysBetween(d.installedOn, asOf) > rule.maxDays);
    case 'no_open_defects':
      return inst.openDefects.some((d) => d.severity === rule.severity);
    case 'max_open_defect_age_days':
      return inst.openDefects.some(
        (d) => d.severity === rule.severity && daysBetween(d.reportedOn, asOf) > rule.maxDays,
      );
  }
}

/** The ground truth: the verdict and the ids of the violated rules. */
export function evaluateInstallation(
  inst: Installation,
  ruleSet: RuleSet = EXAMPLE_RULE_SET,
): { verdict: Verdict; violated: string[] } {
  const violated = ruleSet.rules.filter((r) => violates(r, inst, ruleSet.asOf)).map((r) => r.id);
  return { verdict: violated.length === 0 ? 'compliant' : 'non_compliant', violated };
}
