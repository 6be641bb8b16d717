// The Starling stack in CDK: the same resources, logical ids, parameters and outputs as
// infra/sam/template.yaml. infra/parity compares the two synthesized templates.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  Aws,
  CfnCondition,
  CfnOutput,
  CfnParameter,
  CfnResource,
  CfnRule,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import { AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, type AlarmProps, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { ManagedPolicy, PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, EventSourceMapping, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { CHECKOV_SKIPS, skipChecks } from './checkov.js';
import { FUNCTION_KEYS, type Contract, type FunctionKey, type PermissionKind, loadContract } from './contract.js';

export interface StarlingStackProps extends StackProps {
  /**
   * Folder holding `starling-<name>/bootstrap.zip` for every function, as written by
   * `cargo lambda build --release --arm64 --output-format zip` (its default is `<workspace>/target/lambda`).
   */
  readonly lambdaAssetDir: string;
  /** The contract (defaults to infra/contract.json). */
  readonly contract?: Contract;
}

const LOG_RETENTION_VALUES = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

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

function cfn(construct: Construct): CfnResource {
  return construct.node.defaultChild as CfnResource;
}

export class StarlingStack extends Stack {
  constructor(scope: Construct, id: string, props: StarlingStackProps) {
    super(scope, id, props);
    const contract = props.contract ?? loadContract();
    Validations.of(this).acknowledge({
      id: 'CloudFormation-Validate::W2509',
      reason: 'JwtSecretId is the name or ARN of the secret (Secrets Manager or SSM), never the secret itself.',
    });
    this.templateOptions.description =
      'Starling: serverless WebSocket messaging (API Gateway WebSocket API, Rust Lambda functions, ' +
      'SQS FIFO fanout, DynamoDB single table). Same stack as infra/sam; infra/parity keeps them equal.';

    // ------------------------------------------------------------ parameters (same names as SAM)
    const stageName = new CfnParameter(this, 'StageName', {
      type: 'String',
      default: 'prod',
      allowedPattern: '^[A-Za-z0-9_-]{1,128}$',
      description: 'API Gateway stage name; the last path segment of the WebSocket URL.',
    });
    // Not NoEcho: it names the secret, it is not the secret.
    const jwtSecretId = new CfnParameter(this, 'JwtSecretId', {
      type: 'String',
      minLength: 1,
      allowedPattern: '^[A-Za-z0-9/_+=.@:-]+$',
      description:
        'Where the HS256 JWT secret lives, never the secret itself: a Secrets Manager secret name or full ARN, ' +
        'or an SSM SecureString parameter name starting with "/" or its arn:aws:ssm: ARN. Still required, but not read, ' +
        'when OidcIssuer is set.',
    });
    // Sign-in with an OIDC issuer (Cognito, Auth0, ...) instead of the HS256 secret: the authorizer's
    // STARLING_OIDC_* variables. Public settings, no permission: the JWKS is fetched over public HTTPS.
    const httpsUrlOrEmpty = {
      allowedPattern: '^(https://\\S+)?$',
      constraintDescription: 'must be empty or an https:// URL.',
    };
    const oidcIssuer = new CfnParameter(this, 'OidcIssuer', {
      type: 'String',
      default: '',
      ...httpsUrlOrEmpty,
      description:
        'STARLING_OIDC_ISSUER, the OIDC issuer whose RS256/ES256 tokens the authorizer accepts, exactly as their iss claim ' +
        'says it (Cognito: https://cognito-idp.{region}.amazonaws.com/{userPoolId}). Empty keeps HS256 tokens signed with ' +
        'the JwtSecretId secret; once set, that secret is neither read nor accepted.',
    });
    const oidcAudience = new CfnParameter(this, 'OidcAudience', {
      type: 'String',
      default: '',
      allowedPattern: '^([^,\\s]+(,[^,\\s]+)*)?$',
      constraintDescription: 'must be empty or audiences separated by commas, without spaces.',
      description:
        'STARLING_OIDC_AUDIENCE, the accepted audiences, comma-separated (Cognito: the app client id); required when ' +
        'OidcIssuer is set. A token passes when its aud (string or array) holds one of them, or, without aud, its client_id does.',
    });
    const oidcJwksUrl = new CfnParameter(this, 'OidcJwksUrl', {
      type: 'String',
      default: '',
      ...httpsUrlOrEmpty,
      description:
        "STARLING_OIDC_JWKS_URL, where the issuer's signing keys are. Empty means {OidcIssuer}/.well-known/jwks.json " +
        "(Cognito's and Auth0's location).",
    });
    const oidcUserClaim = new CfnParameter(this, 'OidcUserClaim', {
      type: 'String',
      default: 'sub',
      allowedPattern: '^\\S+$',
      constraintDescription: 'must be a claim name (not empty, no spaces).',
      description:
        'STARLING_OIDC_USER_CLAIM, the claim whose value becomes the Starling user id (sub, cognito:username, email, ...); ' +
        'a value that is not 1-128 characters of [A-Za-z0-9._@:+=-] refuses the connection.',
    });
    const burst = new CfnParameter(this, 'ThrottlingBurstLimit', {
      type: 'Number',
      default: 1000,
      minValue: 1,
      description: 'Stage default route throttling, burst (requests).',
    });
    const rate = new CfnParameter(this, 'ThrottlingRateLimit', {
      type: 'Number',
      default: 500,
      minValue: 1,
      description: 'Stage default route throttling, steady rate (requests per second).',
    });
    const maxReceiveCount = new CfnParameter(this, 'MaxReceiveCount', {
      type: 'Number',
      default: 100,
      minValue: 1,
      maxValue: 1000,
      description: 'Receives of a fanout message before SQS moves it to the dead-letter queue.',
    });
    const numberParam = (name: string, dflt: number, description: string) =>
      new CfnParameter(this, name, { type: 'Number', default: dflt, minValue: 1, description });
    const envParams: Record<string, CfnParameter> = {
      MaxReceiveCount: maxReceiveCount,
      RateLimit: numberParam('RateLimit', 100, 'STARLING_RATE_LIMIT, the budget of one user (all their connections) per rate window, in cost units; every action costs its weight (send 1, history 5, sync 5 + 1 per room; docs/protocol.md).'),
      RateWindowSecs: numberParam('RateWindowSecs', 10, 'STARLING_RATE_WINDOW_SECS, the rate window in seconds.'),
      MaxRooms: numberParam('MaxRooms', 100, 'STARLING_MAX_ROOMS, rooms one connection may join.'),
      FanoutConcurrency: numberParam(
        'FanoutConcurrency',
        128,
        'STARLING_FANOUT_CONCURRENCY, PostToConnection calls in flight per fanout invocation.',
      ),
      FanoutMaxAttempts: numberParam(
        'FanoutMaxAttempts',
        5,
        'STARLING_FANOUT_MAX_ATTEMPTS, failed attempts at one message (its own, not receives spent queued behind ' +
          'another) before the fanout sends it to the dead-letter queue with its reason. Keep well under MaxReceiveCount.',
      ),
      PresencePushLimit: numberParam(
        'PresencePushLimit',
        1000,
        'STARLING_PRESENCE_PUSH_LIMIT, subscribers from which a room is no longer pushed presenceChanged, typing and ' +
          'read (its members ask with the presence action).',
      ),
      ShardThreshold: numberParam(
        'ShardThreshold',
        2000,
        'STARLING_SHARD_THRESHOLD, subscribers from which a room is delivered through its shards on the delivery queue ' +
          "(one record per shard, each shard's posts by its own fanout invocation) instead of by one invocation.",
      ),
      Shards: new CfnParameter(this, 'Shards', {
        type: 'Number',
        default: 16,
        minValue: 1,
        maxValue: 256,
        description:
          "STARLING_SHARDS, how many shards (delivery records and fanout invocations) a large room's subscribers are split into.",
      }),
      ShardedHoldSecs: numberParam(
        'ShardedHoldSecs',
        900,
        'STARLING_SHARDED_HOLD_SECS, how long a room stays on its shards after its last sharded delivery, whatever its size, ' +
          'so direct posts never overtake shard deliveries still queued.',
      ),
      RetentionDays: numberParam(
        'RetentionDays',
        30,
        'STARLING_RETENTION_DAYS, how long messages stay readable (history, sync).',
      ),
      WsEndpoint: new CfnParameter(this, 'WsEndpoint', {
        type: 'String',
        default: '',
        description:
          'STARLING_WS_ENDPOINT, the management endpoint send and fanout post to. Empty derives it from the event ' +
          '(https://{apiId}.execute-api.{region}.amazonaws.com/{stage}); set it when clients use a custom domain.',
      }),
      RustLog: new CfnParameter(this, 'RustLog', {
        type: 'String',
        default: 'info',
        description: 'RUST_LOG for every function.',
      }),
      JwtSecretId: jwtSecretId,
      OidcIssuer: oidcIssuer,
      OidcAudience: oidcAudience,
      OidcJwksUrl: oidcJwksUrl,
      OidcUserClaim: oidcUserClaim,
    };
    const memorySize = new CfnParameter(this, 'FunctionMemorySize', {
      type: 'Number',
      default: 128,
      minValue: 128,
      maxValue: 10240,
      description: 'Memory (MB) of every function.',
    });
    const logRetentionDays = new CfnParameter(this, 'LogRetentionDays', {
      type: 'Number',
      default: '30', // a string, like the AllowedValues it must be one of
      allowedValues: LOG_RETENTION_VALUES.map(String),
      description: 'Retention of the function and access log groups.',
    });
    const queueAgeAlarmSeconds = new CfnParameter(this, 'QueueAgeAlarmSeconds', {
      type: 'Number',
      default: 600,
      minValue: 60,
      description:
        'Alarm when the oldest message of the fanout queue is older than this (the fanout is falling behind or a room is stuck).',
    });
    const alarmTopicArn = new CfnParameter(this, 'AlarmTopicArn', {
      type: 'String',
      default: '',
      description: 'Optional SNS topic ARN notified when the dead-letter queue holds messages.',
    });
    const configureApiGatewayAccount = new CfnParameter(this, 'ConfigureApiGatewayAccount', {
      type: 'String',
      default: 'false',
      allowedValues: ['true', 'false'],
      description:
        '"true" sets this region\'s account-wide API Gateway CloudWatch Logs role (needed once per account and ' +
        'region before stage access logging works). Leave "false" when the account already has one.',
    });

    // ------------------------------------------------------------ rules (same as SAM)
    // Checked when the change set is made, before anything is deployed: OIDC settings the authorizer
    // would refuse to start with, or never read.
    const isEmpty = (param: CfnParameter) => Fn.conditionEquals(param.valueAsString, '');
    new CfnRule(this, 'OidcIssuerSet', {
      ruleCondition: Fn.conditionNot(isEmpty(oidcIssuer)),
      assertions: [
        {
          assert: Fn.conditionNot(isEmpty(oidcAudience)),
          assertDescription:
            'OidcAudience is required when OidcIssuer is set (for a Cognito user pool, its app client id).',
        },
      ],
    });
    new CfnRule(this, 'OidcIssuerEmpty', {
      ruleCondition: isEmpty(oidcIssuer),
      assertions: [
        {
          assert: Fn.conditionAnd(isEmpty(oidcAudience), isEmpty(oidcJwksUrl)),
          assertDescription:
            'OidcAudience and OidcJwksUrl are read only with OidcIssuer; set OidcIssuer, or leave them empty.',
        },
      ],
    });

    // ------------------------------------------------------------ conditions
    const hasAlarmTopic = new CfnCondition(this, 'HasAlarmTopic', {
      expression: Fn.conditionNot(Fn.conditionEquals(alarmTopicArn.valueAsString, '')),
    });
    const jwtSecretIsArn = new CfnCondition(this, 'JwtSecretIsArn', {
      expression: Fn.conditionEquals(Fn.select(0, Fn.split(':', jwtSecretId.valueAsString)), 'arn'),
    });
    const jwtSecretIsSsmName = new CfnCondition(this, 'JwtSecretIsSsmName', {
      expression: Fn.conditionEquals(Fn.select(0, Fn.split('/', jwtSecretId.valueAsString)), ''),
    });
    const createApiGatewayAccount = new CfnCondition(this, 'CreateApiGatewayAccount', {
      expression: Fn.conditionEquals(configureApiGatewayAccount.valueAsString, 'true'),
    });

    // ------------------------------------------------------------ data
    const table = new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    table.addGlobalSecondaryIndex({
      indexName: 'gsi1',
      partitionKey: { name: 'gsi1pk', type: AttributeType.STRING },
      sortKey: { name: 'gsi1sk', type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });
    cfn(table).overrideLogicalId('Table');
    skipChecks(cfn(table), CHECKOV_SKIPS.table);

    // ------------------------------------------------------------ queue
    const fanoutTimeout = contract.functions.fanout.timeoutSeconds;
    if (contract.queue.visibilityTimeoutSeconds < 6 * fanoutTimeout) {
      throw new Error('queue visibility timeout must be at least 6 x the fanout function timeout');
    }
    const deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      fifo: true,
      contentBasedDeduplication: false,
      retentionPeriod: Duration.seconds(contract.queue.dlqMessageRetentionSeconds),
      encryption: QueueEncryption.SQS_MANAGED,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    cfn(deadLetterQueue).overrideLogicalId('DeadLetterQueue');
    skipChecks(cfn(deadLetterQueue), CHECKOV_SKIPS.queue);

    // The queues the fanout consumes: FIFO with sender-given deduplication ids, per-group throughput,
    // redriven to the one DLQ after MaxReceiveCount receives.
    const consumedQueue = (logicalId: string, settings: { visibilityTimeoutSeconds: number; messageRetentionSeconds: number }) => {
      const created = new Queue(this, logicalId, {
        fifo: true,
        contentBasedDeduplication: false,
        deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
        fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
        visibilityTimeout: Duration.seconds(settings.visibilityTimeoutSeconds),
        retentionPeriod: Duration.seconds(settings.messageRetentionSeconds),
        encryption: QueueEncryption.SQS_MANAGED,
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: maxReceiveCount.valueAsNumber },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      cfn(created).overrideLogicalId(logicalId);
      skipChecks(cfn(created), CHECKOV_SKIPS.queue);
      return created;
    };
    const queue = consumedQueue('Queue', contract.queue);

    // Large rooms' shard deliveries (one record per shard, group {room}#{shard}): the fanout sends
    // them and consumes them.
    const deliver = contract.deliverQueue;
    if (deliver.visibilityTimeoutSeconds < 6 * contract.functions[deliver.consumer].timeoutSeconds) {
      throw new Error('delivery queue visibility timeout must be at least 6 x its consumer function timeout');
    }
    const deliverQueue = consumedQueue(deliver.logicalId, deliver);

    // Each alarm notifies AlarmTopicArn when one is given.
    const alarm = (logicalId: string, props: AlarmProps) => {
      const created = new Alarm(this, logicalId, props);
      const resource = cfn(created);
      resource.overrideLogicalId(logicalId);
      resource.addPropertyOverride(
        'AlarmActions',
        Fn.conditionIf(hasAlarmTopic.logicalId, [alarmTopicArn.valueAsString], Aws.NO_VALUE),
      );
      Validations.of(created).acknowledge({
        id: 'CloudFormation-Validate::W1030',
        reason: 'AlarmActions uses AlarmTopicArn only under the HasAlarmTopic condition (not empty).',
      });
    };
    const perMinuteMax = { statistic: 'Maximum', period: Duration.minutes(1) };
    const overThreshold = {
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    };
    const alarmThreshold = (name: string): CfnParameter => {
      if (name !== queueAgeAlarmSeconds.node.id) throw new Error(`contract: unknown alarm threshold parameter ${name}`);
      return queueAgeAlarmSeconds;
    };

    alarm('DeadLetterQueueAlarm', {
      alarmDescription:
        'A human must look: the fanout gave up on a message (each carries its reason as the starlingReason attribute) ' +
        'or one reached the redrive limit (a fanout that crashes or times out on it).',
      metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible(perMinuteMax),
      threshold: 0,
      ...overThreshold,
    });
    alarm(contract.queue.oldestMessageAlarm.logicalId, {
      alarmDescription:
        'The fanout is falling behind or a room is stuck behind a failing message (oldest queued message too old).',
      metric: queue.metricApproximateAgeOfOldestMessage(perMinuteMax),
      threshold: alarmThreshold(contract.queue.oldestMessageAlarm.thresholdParameter).valueAsNumber,
      ...overThreshold,
    });
    alarm(deliver.oldestMessageAlarm.logicalId, {
      alarmDescription:
        "Large rooms' shard deliveries are falling behind or a shard is stuck behind a failing delivery (oldest delivery record too old).",
      metric: deliverQueue.metricApproximateAgeOfOldestMessage(perMinuteMax),
      threshold: alarmThreshold(deliver.oldestMessageAlarm.thresholdParameter).valueAsNumber,
      ...overThreshold,
    });

    // ------------------------------------------------------------ functions
    const logGroup = (id: string) => {
      const group = new LogGroup(this, id, {
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
    };

    const functions = {} as Record<FunctionKey, LambdaFunction>;
    for (const key of FUNCTION_KEYS) {
      const spec = contract.functions[key];
      const id = spec.logicalId;
      const group = logGroup(`${id}LogGroup`);
      // Only the actions of the contract, each on its own resource; no managed policies.
      const statements = (Object.keys(spec.permissions) as PermissionKind[]).map((kind) => {
        const statement = new PolicyStatement({
          sid: sid[kind],
          actions: [...(spec.permissions[kind] ?? [])],
          resources: resourcesFor(kind, group),
        });
        if (kind === 'connections') connectionStatements.push([statement, contract.api.connectionMethods]);
        if (kind === 'connectionsPost') connectionStatements.push([statement, ['POST']]);
        return statement;
      });
      const role = new Role(this, `${id}Role`, {
        assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
        inlinePolicies: { [spec.binary]: new PolicyDocument({ statements }) },
      });
      cfn(role).overrideLogicalId(`${id}Role`);

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
          };
          if (!(source.resource in resources)) {
            throw new Error(`contract: ${key}.${name} names unknown resource ${source.resource}`);
          }
          environment[name] = resources[source.resource];
        }
      }

      const fn = new LambdaFunction(this, id, {
        description: DESCRIPTIONS[key],
        runtime: Runtime.PROVIDED_AL2023,
        architecture: Architecture.ARM_64,
        handler: 'bootstrap',
        code: Code.fromAsset(functionAssetPath(props.lambdaAssetDir, spec.binary)),
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

    new EventSourceMapping(this, 'FanoutEventSourceMapping', {
      target: functions.fanout,
      eventSourceArn: queue.queueArn,
      batchSize: contract.queue.batchSize,
      reportBatchItemFailures: contract.queue.functionResponseTypes.includes('ReportBatchItemFailures'),
      enabled: true,
    });
    cfn(this.node.findChild('FanoutEventSourceMapping')).overrideLogicalId('FanoutEventSourceMapping');

    // The same fanout consumes the shard deliveries it queued for large rooms.
    new EventSourceMapping(this, deliver.eventSourceMapping, {
      target: functions[deliver.consumer],
      eventSourceArn: deliverQueue.queueArn,
      batchSize: deliver.batchSize,
      reportBatchItemFailures: deliver.functionResponseTypes.includes('ReportBatchItemFailures'),
      enabled: true,
    });
    cfn(this.node.findChild(deliver.eventSourceMapping)).overrideLogicalId(deliver.eventSourceMapping);

    // ------------------------------------------------------------ WebSocket API
    const routeOptions = (routeKey: string) => {
      const route = contract.api.routes[routeKey];
      if (!route) throw new Error(`contract: no route ${routeKey}`);
      const fn = functions[route.function];
      return {
        integration: new WebSocketLambdaIntegration(`${route.function}Integration`, fn),
        returnResponse: route.routeResponse,
        ...(route.authorizer
          ? {
              authorizer: new WebSocketLambdaAuthorizer('Authorizer', functions.authorizer, {
                authorizerName: contract.api.authorizer.name,
                identitySource: contract.api.authorizer.identitySource,
              }),
            }
          : {}),
      };
    };
    const api = new WebSocketApi(this, 'WebSocketApi', {
      apiName: `${Aws.STACK_NAME}-websocket`,
      routeSelectionExpression: contract.api.routeSelectionExpression,
      connectRouteOptions: routeOptions('$connect'),
      disconnectRouteOptions: routeOptions('$disconnect'),
      defaultRouteOptions: routeOptions('$default'),
    });
    cfn(api).overrideLogicalId('WebSocketApi');
    for (const routeKey of Object.keys(contract.api.routes)) {
      if (!['$connect', '$disconnect', '$default'].includes(routeKey)) {
        throw new Error(`contract: route ${routeKey} is not wired in the CDK app`);
      }
    }
    // The same logical ids as SAM for everything the L2 constructs generate: readable diffs, and a
    // stack can move between the two tools without replacing resources.
    const routeName: Record<string, string> = { $connect: 'Connect', $disconnect: 'Disconnect', $default: 'Default' };
    const capitalized = (s: string) => s[0]!.toUpperCase() + s.slice(1);
    for (const child of api.node.findAll()) {
      if (!(child instanceof CfnResource) || child === cfn(api)) continue;
      const rel = child.node.path.slice(api.node.path.length + 1);
      let m: RegExpMatchArray | null;
      let logicalId: string | undefined;
      if ((m = rel.match(/^(\$\w+)-Route\/Resource$/))) logicalId = `${routeName[m[1]!]}Route`;
      else if ((m = rel.match(/^(\$\w+)-Route\/Response$/))) logicalId = `${routeName[m[1]!]}RouteResponse`;
      else if ((m = rel.match(/^(\$\w+)-Route\/\w+Integration\/Resource$/))) logicalId = `${routeName[m[1]!]}Integration`;
      else if ((m = rel.match(/^(\$\w+)-Route\/\w+Integration-Permission$/)))
        logicalId = `${capitalized(contract.api.routes[m[1]!]!.function)}InvokePermission`;
      else if (rel === 'Authorizer/Resource') logicalId = 'Authorizer';
      else if (/Authorizer\w*-Permission$/.test(rel)) logicalId = 'AuthorizerInvokePermission';
      if (!logicalId) throw new Error(`no SAM logical id for ${child.node.path}: add one here and in the SAM template`);
      child.overrideLogicalId(logicalId);
    }

    const accessLogGroup = logGroup('AccessLogGroup');
    const stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: api,
      stageName: stageName.valueAsString,
      autoDeploy: true,
      throttle: { burstLimit: burst.valueAsNumber, rateLimit: rate.valueAsNumber },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(contract.api.accessLogFormat)),
      },
    });
    cfn(stage).overrideLogicalId('Stage');

    for (const [statement, methods] of connectionStatements) {
      statement.addResources(
        ...methods.map((m) => `${arnPrefix('execute-api')}:${api.apiId}/${stage.stageName}/${m}/@connections/*`),
      );
    }

    // Account-wide (per region) role API Gateway needs to write access logs; optional, see the parameter.
    const apiGatewayCloudWatchRole = new Role(this, 'ApiGatewayCloudWatchRole', {
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      managedPolicies: [
        ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs'),
      ],
    });
    cfn(apiGatewayCloudWatchRole).overrideLogicalId('ApiGatewayCloudWatchRole');
    cfn(apiGatewayCloudWatchRole).cfnOptions.condition = createApiGatewayAccount;
    const account = new CfnAccount(this, 'ApiGatewayAccount', {
      cloudWatchRoleArn: apiGatewayCloudWatchRole.roleArn,
    });
    account.cfnOptions.condition = createApiGatewayAccount;

    // ------------------------------------------------------------ outputs (same as SAM)
    const host = `${api.apiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}`;
    new CfnOutput(this, 'WebSocketUrl', {
      description: 'Clients connect here (wss://HOST/STAGE?token=JWT).',
      value: `wss://${host}/${stageName.valueAsString}`,
    });
    new CfnOutput(this, 'ManagementEndpoint', {
      description:
        'The @connections management API endpoint (STARLING_WS_ENDPOINT when no custom domain is used).',
      value: `https://${host}/${stageName.valueAsString}`,
    });
    new CfnOutput(this, 'WebSocketApiId', { description: 'The WebSocket API id.', value: api.apiId });
    new CfnOutput(this, 'TableName', { description: 'The DynamoDB table.', value: table.tableName });
    new CfnOutput(this, 'QueueUrl', { description: 'The fanout FIFO queue.', value: queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      description: 'The fanout dead-letter queue (alarmed when not empty).',
      value: deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'DeliverQueueUrl', {
      description: "The FIFO delivery queue of large rooms' shard deliveries (consumed by the fanout).",
      value: deliverQueue.queueUrl,
    });
  }
}

const DESCRIPTIONS: Record<FunctionKey, string> = {
  authorizer: "Starling $connect authorizer (JWT from the token query parameter, HS256 or an OIDC issuer's RS256/ES256)",
  connect: 'Starling $connect (register the connection and presence)',
  disconnect: 'Starling $disconnect (drop the connection, its subscriptions and presence)',
  send: 'Starling $default (validate a frame, reply, enqueue for fanout)',
  fanout: 'Starling fanout (sequence, persist and deliver queued messages to subscribers)',
};
