// The five functions: log groups, roles and policies (the contract's permissions), environment, event source mappings.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Aws, Duration, Fn, Lazy, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { CfnDeliveryStream } from 'aws-cdk-lib/aws-kinesisfirehose';
import { Architecture, Code, EventSourceMapping, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { cfn } from './cfn.js';
import { CHECKOV_SKIPS, skipChecks } from './checkov.js';
import type { StarlingConditions } from './conditions.js';
import { FUNCTION_KEYS, type Contract, type FunctionKey, type PermissionKind } from './contract.js';
import type { StarlingData } from './data.js';
import type { StarlingParameters } from './parameters.js';


/** The zip of one function, or a clear error telling how to build it. */
export function functionAssetPath(lambdaAssetDir: string, binary: string): string {
  const zip = join(lambdaAssetDir, binary, 'bootstrap.zip');
  if (!existsSync(zip) || !statSync(zip).isFile()) {
    throw new Error(
      `missing Lambda asset ${zip}: build the functions first with ` +
        '`cargo lambda build --release --arm64 --output-format zip` at the workspace root, ' +
        'or pass -c lambdaAssetDir=DIR (see docs/deploy.md)',
    );
  }
  return zip;
}

/**
 * The functions and what they need, created on `scope`. Returns them, the log group maker (the API's access
 * log group is one too), the ARN prefix, and the @connections statements the API fills in.
 */
export function defineFunctions(
  scope: Stack,
  contract: Contract,
  lambdaAssetDir: string,
  params: StarlingParameters,
  conditions: StarlingConditions,
  data: StarlingData,
  exportStream: CfnDeliveryStream,
) {
  const { envParams, allParams, memorySize, logRetentionDays, jwtSecretId } = params;
  const { jwtSecretIsArn, jwtSecretIsSsmName, condition } = conditions;
  const { table, queue, deadLetterQueue, deliverQueue } = data;
  const deliver = contract.deliverQueue;
  // ------------------------------------------------------------ functions
  const logGroup = (id: string) => {
    const group = new LogGroup(scope, id, {
      retention: logRetentionDays.valueAsNumber as RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    cfn(group).overrideLogicalId(id);
    skipChecks(cfn(group), CHECKOV_SKIPS.logGroup);
    return group;
  };

  const arnPrefix = (service: string) => `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${Aws.ACCOUNT_ID}`;
  const tableIndexArn = `${table.tableArn}/index/gsi1`;
  // Statements on the API's @connections resources get them once the API exists (the roles come first).
  const connectionStatements: Array<[PolicyStatement, string[]]> = [];
  const resourcesFor = (kind: PermissionKind, functionLogGroup: LogGroup): string[] => {
    switch (kind) {
      case 'logs':
        return [functionLogGroup.logGroupArn];
      case 'table':
        return [table.tableArn];
      case 'tableIndex':
        return [tableIndexArn];
      case 'queue':
        return [queue.queueArn];
      case 'deadLetterQueue':
        return [deadLetterQueue.queueArn];
      case 'deliverQueue':
        return [deliverQueue.queueArn];
      case 'connections':
      case 'connectionsPost':
        return [];
      case 'jwtSecret':
        // JwtSecretId names either kind; both statements are scoped to exactly that id.
        return [
          Fn.conditionIf(
            jwtSecretIsArn.logicalId,
            jwtSecretId.valueAsString,
            `${arnPrefix('secretsmanager')}:secret:${jwtSecretId.valueAsString}-??????`,
          ).toString(),
        ];
      case 'jwtParameter':
        return [
          Fn.conditionIf(
            jwtSecretIsArn.logicalId,
            jwtSecretId.valueAsString,
            Fn.conditionIf(
              jwtSecretIsSsmName.logicalId,
              `${arnPrefix('ssm')}:parameter${jwtSecretId.valueAsString}`,
              `${arnPrefix('ssm')}:parameter/${jwtSecretId.valueAsString}`,
            ),
          ).toString(),
        ];
      case 'moderationParameter':
        return [`${arnPrefix('ssm')}:parameter${allParams.ModerationRulesParameter!.valueAsString}`];
      case 'moderationObject':
        return [`arn:${Aws.PARTITION}:s3:::${allParams.ModerationRulesObject!.valueAsString}`];
      case 'moderationHook':
        return [allParams.ModerationHookArn!.valueAsString];
      case 'exportStream':
        return [exportStream.attrArn];
    }
  };
  const sid: Record<PermissionKind, string> = {
    logs: 'Logs',
    table: 'Table',
    tableIndex: 'TableIndex',
    queue: 'Queue',
    deadLetterQueue: 'DeadLetterQueue',
    deliverQueue: 'DeliverQueue',
    connections: 'Connections',
    connectionsPost: 'ConnectionsPost',
    jwtSecret: 'JwtSecret',
    jwtParameter: 'JwtParameter',
    moderationParameter: 'ModerationParameter',
    moderationObject: 'ModerationObject',
    moderationHook: 'ModerationHook',
    exportStream: 'ExportStream',
  };

  const functions = {} as Record<FunctionKey, LambdaFunction>;
  for (const key of FUNCTION_KEYS) {
    const spec = contract.functions[key];
    const id = spec.logicalId;
    const group = logGroup(`${id}LogGroup`);
    // Only the actions of the contract, each on its own resource; no managed policies. A kind of
    // contract.conditionalPermissions is granted only under its condition (its parameter set).
    const statements = (Object.keys(spec.permissions) as PermissionKind[]).map((kind) => {
      const statement = new PolicyStatement({
        sid: sid[kind],
        actions: [...(spec.permissions[kind] ?? [])],
        resources: resourcesFor(kind, group),
      });
      if (kind === 'connections') connectionStatements.push([statement, contract.api.connectionMethods]);
      if (kind === 'connectionsPost') connectionStatements.push([statement, ['POST']]);
      return { statement, when: contract.conditionalPermissions[kind]?.condition };
    });
    const role = new Role(scope, `${id}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    cfn(role).overrideLogicalId(`${id}Role`);
    // Written out here rather than with a PolicyDocument, which cannot hold a statement under Fn::If;
    // lazily, as the @connections statements get their resources once the API exists.
    cfn(role).addPropertyOverride('Policies', [
      {
        PolicyName: spec.binary,
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: Lazy.any({
            produce: () =>
              statements.map(({ statement, when }) =>
                when
                  ? Fn.conditionIf(condition(when).logicalId, statement.toStatementJson(), Aws.NO_VALUE)
                  : statement.toStatementJson(),
              ),
          }),
        },
      },
    ]);

    const environment: Record<string, string> = {};
    for (const [name, source] of Object.entries(spec.environment)) {
      if ('parameter' in source) {
        const param = envParams[source.parameter];
        if (!param) throw new Error(`contract: ${key}.${name} names unknown parameter ${source.parameter}`);
        environment[name] = param.valueAsString;
      } else {
        const resources = {
          Table: table.tableName,
          Queue: queue.queueUrl,
          DeadLetterQueue: deadLetterQueue.queueUrl,
          DeliverQueue: deliverQueue.queueUrl,
          ExportStream: exportStream.ref,
        };
        if (!(source.resource in resources)) {
          throw new Error(`contract: ${key}.${name} names unknown resource ${source.resource}`);
        }
        // A resource created under a condition: its name then, empty otherwise.
        environment[name] = source.condition
          ? Fn.conditionIf(condition(source.condition).logicalId, resources[source.resource], '').toString()
          : resources[source.resource];
      }
    }

    const fn = new LambdaFunction(scope, id, {
      description: DESCRIPTIONS[key],
      runtime: Runtime.PROVIDED_AL2023,
      architecture: Architecture.ARM_64,
      handler: 'bootstrap',
      code: Code.fromAsset(functionAssetPath(lambdaAssetDir, spec.binary)),
      memorySize: memorySize.valueAsNumber,
      timeout: Duration.seconds(spec.timeoutSeconds),
      role,
      logGroup: group,
      environment,
    });
    cfn(fn).overrideLogicalId(id);
    skipChecks(cfn(fn), CHECKOV_SKIPS.lambda);
    functions[key] = fn;
  }

  new EventSourceMapping(scope, 'FanoutEventSourceMapping', {
    target: functions.fanout,
    eventSourceArn: queue.queueArn,
    batchSize: contract.queue.batchSize,
    reportBatchItemFailures: contract.queue.functionResponseTypes.includes('ReportBatchItemFailures'),
    enabled: true,
  });
  cfn(scope.node.findChild('FanoutEventSourceMapping')).overrideLogicalId('FanoutEventSourceMapping');

  // The same fanout consumes the shard deliveries it queued for large rooms.
  new EventSourceMapping(scope, deliver.eventSourceMapping, {
    target: functions[deliver.consumer],
    eventSourceArn: deliverQueue.queueArn,
    batchSize: deliver.batchSize,
    reportBatchItemFailures: deliver.functionResponseTypes.includes('ReportBatchItemFailures'),
    enabled: true,
  });
  cfn(scope.node.findChild(deliver.eventSourceMapping)).overrideLogicalId(deliver.eventSourceMapping);
  return { functions, logGroup, arnPrefix, connectionStatements };
}

export type StarlingFunctions = ReturnType<typeof defineFunctions>;

const DESCRIPTIONS: Record<FunctionKey, string> = {
  authorizer: "Starling $connect authorizer (JWT from the token query parameter, HS256 or an OIDC issuer's RS256/ES256)",
  connect: 'Starling $connect (register the connection and presence)',
  disconnect: 'Starling $disconnect (drop the connection, its subscriptions and presence)',
  send: 'Starling $default (validate a frame, reply, enqueue for fanout)',
  fanout: 'Starling fanout (sequence, persist and deliver queued messages to subscribers)',
};
