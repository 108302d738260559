import { describe, expect, it } from 'vitest';
import type { JobView } from '#cli/commands/jobs/client';
import { LIST_HEADER, listRow } from '#cli/commands/jobs/view';

const job = (metrics?: JobView['metrics']): JobView => ({
  jobId: '035eb8bf-8728-4b7f-9fec-b7c16d4bd995',
  status: 'SUCCEEDED',
  acceptedAt: '2026-12-04T18:31:43.701Z',
  request: { mode: 'parl' },
  ...(metrics ? { metrics } : {}),
});
const metrics = (reward: number | null) => ({
  subagents: { spawned: 2, completed: 2 },
  reward,
  costUsd: 0.000425,
});

describe('parl jobs list rows', () => {
  it('says "unscored" for a job without ground truth, as parl jobs show does, in the rPARL column', () => {
    const row = listRow(job(metrics(null)));
    const column = LIST_HEADER.indexOf('rPARL') + 'rPARL'.length;
    expect(row).toContain(' unscored ');
    expect(row.indexOf('unscored') + 'unscored'.length).toBe(column);
  });

  it('right-aligns a reward and the cost under their headers, and dashes for a job not finished', () => {
    const scored = listRow(job(metrics(0.9871)));
    expect(scored.indexOf('0.987') + '0.987'.length).toBe(LIST_HEADER.indexOf('rPARL') + 'rPARL'.length);
    expect(scored.indexOf('0.0004') + '0.0004'.length).toBe(LIST_HEADER.indexOf('COST $') + 'COST $'.length);
    expect(listRow(job())).toMatch(/SUCCEEDED\s+2026-12-04T18:31:43\.701Z\s+–\s+–\s+–$/);
  });
});
