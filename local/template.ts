/**
 * Reads synthesized CloudFormation templates the way the local runtime needs them: resolves the
 * intrinsics CDK emits (Ref, Fn::GetAtt, Fn::Join, Fn::ImportValue, Fn::Sub, Fn::Select) to local
 * names and ARNs, so the state machine's ASL and the functions' environment come from the template.
 */

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

export interface CfnTemplate {
  Resources?: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }>;
}

export const LOCAL_ACCOUNT = '000000000000';

export interface ResolveContext {
  /** Every stack of the app, by stack name, for Fn::ImportValue. */
  templates: Record<string, CfnTemplate>;
  /** The template the value belongs to. */
  template: CfnTemplate;
  region: string;
}

/** The local ARN of a resource of the template (Lambda functions keep their logical id as name). */
export function localArn(type: string, logicalId: string, region: string): string {
  switch (type) {
    case 'AWS::Lambda::Function':
      return `arn:aws:lambda:${region}:${LOCAL_ACCOUNT}:function:${logicalId}`;
    case 'AWS::DynamoDB::Table':
      return `arn:aws:dynamodb:${region}:${LOCAL_ACCOUNT}:table/${logicalId}`;
    case 'AWS::StepFunctions::StateMachine':
      return `arn:aws:states:${region}:${LOCAL_ACCOUNT}:stateMachine:${logicalId}`;
    default:
      return `arn:aws:local:${region}:${LOCAL_ACCOUNT}:${type.replace(/::/g, '-').toLowerCase()}/${logicalId}`;
  }
}

const PSEUDO: Record<string, (ctx: ResolveContext) => string> = {
  'AWS::Region': (c) => c.region,
  'AWS::AccountId': () => LOCAL_ACCOUNT,
  'AWS::Partition': () => 'aws',
  'AWS::URLSuffix': () => 'amazonaws.com',
  'AWS::StackName': () => 'local',
  'AWS::NoValue': () => '',
};

function ref(name: string, ctx: ResolveContext): string {
  const pseudo = PSEUDO[name];
  if (pseudo) return pseudo(ctx);
  const res = ctx.template.Resources?.[name];
  if (!res) throw new Error(`Ref to unknown resource ${name}`);
  // Physical names: a Lambda function's or table's local name is its logical id; ARNs for the rest.
  if (res.Type === 'AWS::Lambda::Function' || res.Type === 'AWS::DynamoDB::Table') {
    return typeof res.Properties?.TableName === 'string' ? res.Properties.TableName : name;
  }
  if (res.Type === 'AWS::Logs::LogGroup') return `/local/${name}`;
  if (res.Type === 'AWS::S3::Bucket') return localBucketName(name, res.Properties?.BucketName);
  return localArn(res.Type, name, ctx.region);
}

/** The local name of a template bucket: its BucketName, else its logical id in lower case. */
export function localBucketName(logicalId: string, bucketName?: unknown): string {
  return typeof bucketName === 'string' ? bucketName : logicalId.toLowerCase().slice(0, 63);
}

function getAtt(id: string, attr: string, ctx: ResolveContext): string {
  const res = ctx.template.Resources?.[id];
  if (!res) throw new Error(`Fn::GetAtt on unknown resource ${id}`);
  if (attr === 'Arn') return localArn(res.Type, id, ctx.region);
  return `${id}.${attr}`;
}

function importValue(name: string, ctx: ResolveContext): unknown {
  for (const template of Object.values(ctx.templates)) {
    for (const output of Object.values(template.Outputs ?? {})) {
      const exportName = output.Export
        ? resolveIntrinsics(output.Export.Name, { ...ctx, template })
        : undefined;
      if (exportName === name) return resolveIntrinsics(output.Value, { ...ctx, template });
    }
  }
  throw new Error(`Fn::ImportValue: no stack exports ${name}`);
}

/** Resolves every intrinsic inside `value`. */
export function resolveIntrinsics(value: unknown, ctx: ResolveContext): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, ctx));
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length === 1) {
    const [k] = keys as [string];
    const arg = obj[k];
    switch (k) {
      case 'Ref':
        return ref(String(arg), ctx);
      case 'Fn::GetAtt': {
        const [id, attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
        return getAtt(String(id), String(attr), ctx);
      }
      case 'Fn::Join': {
        const [sep, parts] = arg as [string, unknown[]];
        return (resolveIntrinsics(parts, ctx) as unknown[]).map(String).join(sep);
      }
      case 'Fn::ImportValue':
        return importValue(String(resolveIntrinsics(arg, ctx)), ctx);
      case 'Fn::Select': {
        const [index, list] = arg as [number, unknown];
        return (resolveIntrinsics(list, ctx) as unknown[])[Number(index)];
      }
      case 'Fn::Sub': {
        const [text, vars] = Array.isArray(arg)
          ? (arg as [string, Record<string, unknown>])
          : [String(arg), {}];
        return text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
          if (name in vars) return String(resolveIntrinsics(vars[name], ctx));
          const [id, attr] = name.split('.');
          return attr ? getAtt(id!, attr, ctx) : ref(id!, ctx);
        });
      }
    }
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, resolveIntrinsics(v, ctx)]));
}

/** The resources of a given type, as [logicalId, resource] pairs. */
export function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources ?? {}).filter(([, r]) => r.Type === type);
}
