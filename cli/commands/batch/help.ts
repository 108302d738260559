/** The text of `parl batch --help`. */
export const BATCH_HELP = `parl batch: start jobs through the batch queue (SQS) and the uploads bucket (S3), locally on fauxqs

Usage:
  parl batch submit <file.jsonl|file.csv> [--tenant <id>] [options]
  parl batch status [--json] [--data-dir <dir>]

A JSONL file whose lines are job requests ({"task": ...}) or job messages
({"tenantId"?, "request": {...}, "idempotencyKey"?}) is sent as one message per line. A CSV file
(columns prompt, id?, expected?) or a JSONL file of subtasks ("prompt" or {"id"?, "prompt", "expected"?})
is uploaded to incoming/<tenant>/<file> and becomes one job.

Where it runs:
  with a running \`parl serve\` (of --data-dir): the file goes to the server's intake and submit
    prints the message ids and the job ids they become (GET /v1/jobs/{id}); see parl batch status,
    or pass --wait
  without one: an embedded stack with its intake starts, processes the file until every job is
    terminal, prints the jobs and stops. With --tenant it uses the tenants, budgets and usage of
    the data directory (parl tenants create …); without, a throwaway tenant with --budget-usd

Tenants and budgets: every job reserves its estimate from its tenant's budget. A message of an
unknown or revoked tenant, or an invalid request, is poison: it fails alone and reaches the DLQ
after 3 receives. A job the budget cannot cover fails its message the same way (retried, then DLQ).

Options of submit:
  --tenant <id>              the tenant of lines without one, and of uploads
  --as messages|upload       override how the file is sent
  --wait                     with a running server: wait until the jobs end, with progress on
                             stderr; exit 1 unless every job SUCCEEDED (a poison message: NOT_ACCEPTED)
  --data-dir <dir>           local data (default .parl, or PARL_DATA_DIR) and its running server
  --budget-usd X             budget of the throwaway tenant (default 10; embedded, without --tenant)
  --visibility-timeout S     embedded: seconds a failed message stays invisible (default 10; the template's is 360)
  --seed N                   embedded: seed of the simulator (default 1)
  --latency-scale X          embedded: simulator latency multiplier, 0 = instant (default 1)
  --json                     print exactly one JSON document on stdout
  --quiet                    no progress on stderr

status prints the running server's { queueDepth, inFlight, dlqDepth, jobsStarted } (jobsStarted:
jobs ever started through the batch intake in that data directory).

Exit codes: 0 done (submit: every job SUCCEEDED and the DLQ is empty), 1 otherwise, 2 bad input.`;
