import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { RequestValidationError } from '#shared/domain/errors';
import type { Role, StepRecord } from '#shared/domain/types';
import type { AgentRecord, JobRecord, JobRef } from '#shared/ports/job-store';
import { allItems } from '#shared/ports/paging';
import { useDynaliteTable } from './dynalite-table';

/** A fresh job of a fresh tenant. */
const freshRef = (): JobRef => ({ tenantId: `t-${randomUUID()}`, jobId: `job-${randomUUID()}` });

const jobOf = (ref: JobRef, n = 1): JobRecord => ({
  ...ref,
  status: 'ACCEPTED',
  request: { task: `task ${n}`, workload: 'generic', mode: 'parl' },
  acceptedAt: `2026-01-0${n}T00:00:00.000Z`,
});

/** Step `n` of `agentId` in `stage`. */
const stepOf = (stage: number, role: Role, agentId: string, n: number): StepRecord => ({
  stage,
  role,
  agentId,
  step: n,
  attempt: 1,
  startedAt: '2026-12-01T00:00:00.000Z',
  endedAt: '2026-12-01T00:00:01.000Z',
  durationMs: 10 * n,
  inputTokens: n,
  outputTokens: n,
  cachedInputTokens: 0,
  status: 'SUCCEEDED',
});

/** A sub-agent of `stage` that ended SUCCEEDED after one step. */
const agentOf = (stage: number, agentId: string): AgentRecord => ({
  stage,
  agentId,
  status: 'SUCCEEDED',
  attempt: 1,
  stepCount: 1,
  subtaskIds: [],
});

/** A cursor as the listings encode one (base64url JSON of the last key). */
const cursorOf = (key: Record<string, string>) => Buffer.from(JSON.stringify(key)).toString('base64url');

/** The job store's step pages, consistent job listing, counts, finishing and subtask reads, on dynalite. */
describe('DynamoJobStore on dynalite', () => {
  const table = useDynaliteTable();
  let store: DynamoJobStore;

  beforeAll(() => {
    store = new DynamoJobStore(table.doc, table.tableName);
  });

  describe('listStepsPage', () => {
    it('returns every step of the job in key order, page by page, with a cursor on all but the last', async () => {
      // Prepare: five steps of the job and one of another job
      const ref = freshRef();
      const steps = [1, 2, 3, 4, 5].map((n) => stepOf(1, 'sub', 'a', n));
      for (const s of steps) await store.recordStep(ref, s);
      await store.recordStep(freshRef(), stepOf(1, 'sub', 'a', 9));
      const pages: { length: number; cursor: boolean }[] = [];
      const listed: StepRecord[] = [];
      // Act
      for await (const s of allItems(async (cursor) => {
        const page = await store.listStepsPage(ref, { limit: 2, ...(cursor ? { cursor } : {}) });
        pages.push({ length: page.items.length, cursor: page.nextCursor !== undefined });
        return page;
      })) {
        listed.push(s);
      }
      // Assess
      expect(listed).toEqual(steps);
      expect(pages).toEqual([
        { length: 2, cursor: true },
        { length: 2, cursor: true },
        { length: 1, cursor: false },
      ]);
    });

    it('returns the steps only, not the job’s other items, and no cursor on a short listing', async () => {
      // Prepare
      const ref = freshRef();
      await store.createJob(jobOf(ref), [{ id: 's1', prompt: 'p' }]);
      await store.recordStep(ref, stepOf(1, 'main', 'main', 1));
      // Act
      const page = await store.listStepsPage(ref);
      // Assess
      expect(page).toEqual({ items: [stepOf(1, 'main', 'main', 1)] });
    });

    it('refuses the cursor of another job’s steps', async () => {
      // Prepare: a real cursor of another job's step listing
      const ref = freshRef();
      const other = freshRef();
      for (const n of [1, 2]) {
        await store.recordStep(ref, stepOf(1, 'sub', 'a', n));
        await store.recordStep(other, stepOf(1, 'sub', 'a', n));
      }
      const { nextCursor } = await store.listStepsPage(other, { limit: 1 });
      // Act
      const page = store.listStepsPage(ref, { limit: 1, cursor: nextCursor });
      // Assess
      expect(nextCursor).toEqual(expect.any(String));
      await expect(page).rejects.toBeInstanceOf(RequestValidationError);
      await expect(page).rejects.toMatchObject({ field: 'cursor' });
    });

    it('refuses a cursor in the job’s partition that is not a step', async () => {
      // Prepare
      const ref = freshRef();
      await store.recordStep(ref, stepOf(1, 'sub', 'a', 1));
      const cursor = cursorOf({ pk: `TENANT#${ref.tenantId}#JOB#${ref.jobId}`, sk: 'SUBTASK#s1' });
      // Act
      const page = store.listStepsPage(ref, { cursor });
      // Assess
      await expect(page).rejects.toMatchObject({ name: 'RequestValidationError', field: 'cursor' });
    });
  });

  describe('listJobs with consistent reads', () => {
    it.each(['newest', 'oldest'] as const)(
      'reads each listed job back from its own item, in the listing’s order (%s first), page by page',
      async (order) => {
        // Prepare: three jobs of a fresh tenant, the second one running since
        const tenantId = `t-${randomUUID()}`;
        const created = [1, 2, 3].map((n) => jobOf({ tenantId, jobId: `job-${n}` }, n));
        for (const j of created) await store.createJob(j, []);
        await store.updateJob(created[1]!, { status: 'RUNNING', executionId: 'exec-2' });
        const listed: JobRecord[] = [];
        // Act
        for await (const j of allItems((cursor) =>
          store.listJobs(tenantId, { order, consistent: true, limit: 2, ...(cursor ? { cursor } : {}) }),
        )) {
          listed.push(j);
        }
        // Assess
        const expected = [
          created[0],
          { ...created[1], status: 'RUNNING', executionId: 'exec-2' },
          created[2],
        ];
        expect(listed).toEqual(order === 'oldest' ? expected : expected.reverse());
      },
    );

    it('lists nothing for a tenant without jobs', async () => {
      // Act
      const page = await store.listJobs(`t-${randomUUID()}`, { consistent: true });
      // Assess
      expect(page).toEqual({ items: [] });
    });
  });

  describe('countFinishedAgents', () => {
    it('counts the sub-agents that ended in the stage asked, succeeded or failed, and none of another stage', async () => {
      // Prepare: stage 1 has two that succeeded and one that failed, stage 2 one, stage 10 one
      const ref = freshRef();
      await store.finishAgent(ref, agentOf(1, 'a1'));
      await store.finishAgent(ref, agentOf(1, 'a2'));
      await store.recordAgentFailure(ref, { stage: 1, agentId: 'a3', subtaskIds: [], error: 'boom' });
      await store.finishAgent(ref, agentOf(2, 'b1'));
      await store.finishAgent(ref, agentOf(10, 'c1'));
      await store.recordStep(ref, stepOf(1, 'sub', 'a1', 1));
      // Act
      const counts = await Promise.all([1, 2, 3, 10].map((stage) => store.countFinishedAgents(ref, stage)));
      // Assess
      expect(counts).toEqual([3, 1, 0, 1]);
    });

    it('counts no agent of another job', async () => {
      // Prepare
      const ref = freshRef();
      await store.finishAgent(freshRef(), agentOf(1, 'a1'));
      // Act
      const count = await store.countFinishedAgents(ref, 1);
      // Assess
      expect(count).toBe(0);
    });
  });

  describe('countProgress', () => {
    it('counts the sub-agents that succeeded and failed over every stage, and every step', async () => {
      // Prepare
      const ref = freshRef();
      await store.finishAgent(ref, agentOf(1, 'a1'));
      await store.finishAgent(ref, agentOf(2, 'b1'));
      await store.recordAgentFailure(ref, { stage: 2, agentId: 'b2', subtaskIds: [], error: 'boom' });
      for (const s of [stepOf(1, 'main', 'main', 1), stepOf(1, 'sub', 'a1', 1), stepOf(2, 'sub', 'b1', 1)]) {
        await store.recordStep(ref, s);
      }
      await store.finishAgent(freshRef(), agentOf(1, 'elsewhere'));
      // Act
      const counts = await store.countProgress(ref);
      // Assess
      expect(counts).toEqual({ succeeded: 2, failed: 1, steps: 3 });
    });
  });

  describe('finishJob', () => {
    it('finishes a running job once: a second outcome is refused and the first one stays', async () => {
      // Prepare
      const ref = freshRef();
      await store.createJob(jobOf(ref), []);
      await store.updateJob(ref, { status: 'RUNNING' });
      // Act
      const first = await store.finishJob(ref, {
        status: 'SUCCEEDED',
        finishedAt: '2026-01-01T00:01:00.000Z',
        result: { answer: '42', summary: {} },
      });
      const second = await store.finishJob(ref, {
        status: 'FAILED',
        finishedAt: '2026-01-01T00:02:00.000Z',
        error: 'late',
      });
      // Assess
      expect([first, second]).toEqual([true, false]);
      expect(await store.getJob(ref)).toEqual({
        ...jobOf(ref),
        status: 'SUCCEEDED',
        finishedAt: '2026-01-01T00:01:00.000Z',
        result: { answer: '42', summary: {} },
      });
    });

    it('finishes no job that does not exist, and creates none', async () => {
      // Prepare
      const ref = freshRef();
      // Act
      const finished = await store.finishJob(ref, {
        status: 'FAILED',
        finishedAt: '2026-01-01T00:00:00.000Z',
      });
      // Assess
      expect(finished).toBe(false);
      expect(await store.getJob(ref)).toBeUndefined();
    });
  });

  describe('getSubtasks', () => {
    it('reads the subtasks asked, in the order asked, leaving out one that does not exist', async () => {
      // Prepare
      const ref = freshRef();
      const subtasks = [1, 2, 3].map((n) => ({ id: `s${n}`, prompt: `p${n}` }));
      await store.createJob(jobOf(ref), subtasks);
      // Act
      const read = await store.getSubtasks(ref, ['s3', 'missing', 's1']);
      // Assess
      expect(read).toEqual([subtasks[2], subtasks[0]]);
    });
  });
});
