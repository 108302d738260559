import { Annotations, type IAspect } from 'aws-cdk-lib';
import { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct, type IConstruct } from 'constructs';

/** The CDK context key of the addresses the alarms e-mail: `-c alarmEmail=ops@example.com[,oncall@example.com]`. */
export const ALARM_EMAIL_CONTEXT = 'alarmEmail';

/** One address: something@host.tld, no spaces, no second @ (what SNS e-mail subscriptions take). */
const EMAIL = /^[^\s@,;]+@[^\s@,;]+\.[^\s@,;.]+$/;

/**
 * Reads and checks the alarm addresses from the `alarmEmail` context: one address, several separated
 * by commas, or a JSON array of them. Throws (failing the synth) naming the context key and the
 * address that is not one; nothing configured gives an empty list.
 *
 * @example
 * alarmEmailsFromContext('ops@example.com, oncall@example.com'); // ['ops@example.com', 'oncall@example.com']
 */
export function alarmEmailsFromContext(raw: unknown): string[] {
  if (raw === undefined || raw === null || raw === '') return [];
  let values: unknown[];
  if (Array.isArray(raw)) values = raw;
  else if (typeof raw === 'string') values = raw.split(',').map((part) => part.trim());
  else
    throw new Error(
      `context ${ALARM_EMAIL_CONTEXT}: must be an e-mail address or a comma-separated list of them`,
    );
  const emails: string[] = [];
  for (const value of values) {
    if (typeof value !== 'string' || !EMAIL.test(value)) {
      throw new Error(`context ${ALARM_EMAIL_CONTEXT}: ${JSON.stringify(value)} is not an e-mail address`);
    }
    if (!emails.includes(value)) emails.push(value);
  }
  return emails;
}

/** Properties of {@link Alerts}. */
export interface AlertsProps {
  /** Addresses subscribed to the topic (each confirms the subscription once, from the e-mail SNS sends). */
  readonly emails: readonly string[];
}

/**
 * Where every alarm goes: an SNS topic (encrypted with its own key, which CloudWatch may use to
 * publish; TLS only) with an e-mail subscription per configured address. It lives in the stateful
 * stack, so redeploying the workflow keeps the confirmed subscriptions.
 */
export class Alerts extends Construct {
  readonly topic: Topic;
  readonly key: Key;

  constructor(scope: Construct, id: string, props: AlertsProps) {
    super(scope, id);
    this.key = new Key(this, 'Key', {
      description: 'Encrypts the PARL Swarm alarm topic',
      enableKeyRotation: true,
    });
    // The AWS managed SNS key does not let CloudWatch alarms publish; this key does.
    this.key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new Topic(this, 'Topic', {
      displayName: 'PARL Swarm alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    for (const email of props.emails) this.topic.addSubscription(new EmailSubscription(email));
    if (props.emails.length === 0) {
      Annotations.of(this.topic).addWarningV2(
        'parl:alerts:no-email',
        `No one is subscribed to the alarm topic: deploy with -c ${ALARM_EMAIL_CONTEXT}=you@example.com`,
      );
    }
  }
}

/**
 * Makes every CloudWatch alarm under the scope it is added to notify `topic`, when it fires and
 * when it recovers, so no alarm is created without an action (`Aspects.of(stack).add(...)`).
 */
export class NotifyOnAlarm implements IAspect {
  private readonly action: SnsAction;

  constructor(topic: ITopic) {
    this.action = new SnsAction(topic);
  }

  visit(node: IConstruct): void {
    if (!(node instanceof Alarm)) return;
    node.addAlarmAction(this.action);
    node.addOkAction(this.action);
  }
}
