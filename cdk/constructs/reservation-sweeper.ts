import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import { HandlerFunction } from './handler-function.ts';

/** How often the sweeper runs: a stranded reservation is back within the grace period plus this. */
export const SWEEP_SCHEDULE = Duration.minutes(5);

export interface ReservationSweeperProps {
  readonly table: ITable;
  /** The GSI the open reservations are listed on. */
  readonly index: string;
}

/**
 * Money is never held for nothing: a scheduled Lambda (an EventBridge rule every
 * {@link SWEEP_SCHEDULE}) that releases reservations without a job and settles those of jobs that
 * ended without settling (the `sweeper` function, `sweepReservations`).
 */
export class ReservationSweeper extends Construct {
  readonly fn: HandlerFunction;
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: ReservationSweeperProps) {
    super(scope, id);
    this.fn = new HandlerFunction(this, 'Sweeper', {
      name: 'sweeper',
      timeout: Duration.minutes(5),
      memorySize: 256,
      description: 'PARL sweeper: returns the money of reservations no live job will settle',
    })
      // Reads open reservations on the GSI, jobs and steps; writes budget records, tenants, usage.
      .bindTable(props.table, 'readWrite', { indexes: [props.index] });
    this.rule = new Rule(this, 'Schedule', {
      description: 'Runs the reservation sweeper',
      schedule: Schedule.rate(SWEEP_SCHEDULE),
    });
    this.rule.addTarget(new LambdaFunction(this.fn, { retryAttempts: 0 }));
  }
}
