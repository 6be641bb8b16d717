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
  Lazy,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import { AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import {
  Alarm,
  type AlarmProps,
  CfnAlarm,
  CfnDashboard,
  ComparisonOperator,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { ManagedPolicy, PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnDeliveryStream } from 'aws-cdk-lib/aws-kinesisfirehose';
import { Architecture, Code, EventSourceMapping, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { CHECKOV_SKIPS, skipChecks } from './checkov.js';
import {
  FUNCTION_KEYS,
  type Contract,
  type FunctionKey,
  type MetricRef,
  type PermissionKind,
  loadContract,
} from './contract.js';

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
    Validations.of(this).acknowledge({
      id: 'CloudFormation-Validate::W1030',
      reason:
        "ExportBucketArn's default (empty) is never a BucketARN: the delivery stream exists only when it is set (ExportEnabled).",
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
        'a value that is not 1-128 characters of [A-Za-z0-9._@:+=|-] refuses the connection.',
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
      // Metrics (every function) and moderation (send): see infra/contract.json.
      MetricsNamespace: new CfnParameter(this, 'MetricsNamespace', {
        type: 'String',
        default: 'Starling',
        allowedPattern: '^[A-Za-z0-9._/#:-]{1,255}$',
        constraintDescription: 'must be 1-255 characters of letters, digits and . _ / # : -',
        description:
          'STARLING_METRICS_NAMESPACE, the CloudWatch namespace of the functions\' metrics (EMF in their logs, dimension ' +
          'Function); the dashboard and the custom-metric alarms read it.',
      }),
      ModerationRulesParameter: new CfnParameter(this, 'ModerationRulesParameter', {
        type: 'String',
        default: '',
        allowedPattern: '^(/[A-Za-z0-9/_.-]+)?$',
        constraintDescription: 'must be empty or an SSM parameter name starting with /.',
        description:
          'STARLING_MODERATION_PARAMETER, the SSM parameter (String or SecureString, name starting with /) holding the moderation rules JSON ' +
          '(docs/moderation.md); send may read that parameter alone. Empty: no rules from SSM.',
      }),
      ModerationRulesObject: new CfnParameter(this, 'ModerationRulesObject', {
        type: 'String',
        default: '',
        allowedPattern: '^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\\S+)?$',
        constraintDescription: 'must be empty or bucket/key.',
        description:
          'STARLING_MODERATION_OBJECT, the S3 object (bucket/key) holding the moderation rules JSON; send may read that ' +
          'object alone. Empty: no rules from S3. At most one of ModerationRulesParameter and ModerationRulesObject.',
      }),
      ModerationTtlSecs: new CfnParameter(this, 'ModerationTtlSecs', {
        type: 'Number',
        default: 60,
        minValue: 1,
        maxValue: 3600,
        description: 'STARLING_MODERATION_TTL_SECS, how long send keeps the loaded rules before reading them again.',
      }),
      ModerationHookArn: new CfnParameter(this, 'ModerationHookArn', {
        type: 'String',
        default: '',
        allowedPattern:
          '^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?)?$',
        constraintDescription: 'must be empty or a Lambda function ARN (optionally with a version or alias).',
        description:
          'STARLING_MODERATION_HOOK, a Lambda function send invokes synchronously on every message (docs/deploy.md); ' +
          'send may invoke that function alone. Empty: no hook.',
      }),
      ModerationHookTimeoutMs: new CfnParameter(this, 'ModerationHookTimeoutMs', {
        type: 'Number',
        default: 200,
        minValue: 10,
        maxValue: 5000,
        description: "STARLING_MODERATION_HOOK_TIMEOUT_MS, how long send waits for the hook's answer.",
      }),
      ModerationHookFailure: new CfnParameter(this, 'ModerationHookFailure', {
        type: 'String',
        default: 'open',
        allowedValues: ['open', 'closed'],
        description:
          'STARLING_MODERATION_HOOK_FAILURE, what send does when the hook fails or times out: open accepts the message, ' +
          'closed refuses it.',
      }),
      ExportBodies: new CfnParameter(this, 'ExportBodies', {
        type: 'String',
        default: 'false',
        allowedValues: ['false', 'true'],
        description: 'STARLING_EXPORT_BODIES, whether exported records include the message bodies.',
      }),
    };
    const exportBucketArn = new CfnParameter(this, 'ExportBucketArn', {
      type: 'String',
      default: '',
      allowedPattern: '^(arn:aws[a-zA-Z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$',
      constraintDescription: 'must be empty or an S3 bucket ARN (arn:aws:s3:::NAME).',
      description:
        "An existing S3 bucket's ARN: set, the stack creates a Firehose delivery stream writing every stored message to " +
        'it (STARLING_EXPORT_STREAM). Empty: no export.',
    });
    const postThrottledAlarmThreshold = new CfnParameter(this, 'PostThrottledAlarmThreshold', {
      type: 'Number',
      default: 100,
      minValue: 0,
      description:
        'PostThrottledAlarm fires when PostToConnection calls of the fanout and send were throttled (post_throttled) ' +
        'more than this many times in 5 minutes.',
    });
    // Every parameter a condition, a threshold or a grant of the contract may name.
    const allParams: Record<string, CfnParameter> = {
      ...envParams,
      ExportBucketArn: exportBucketArn,
      PostThrottledAlarmThreshold: postThrottledAlarmThreshold,
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
      description:
        'Optional SNS topic ARN notified by every alarm of the stack (dead-letter queue, queue ages, fanout errors, throttles).',
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
    // Moderation rules come from one place: send refuses to start with both.
    new CfnRule(this, 'ModerationRulesOneSource', {
      ruleCondition: Fn.conditionNot(isEmpty(envParams.ModerationRulesParameter!)),
      assertions: [
        {
          assert: isEmpty(envParams.ModerationRulesObject!),
          assertDescription:
            'Set ModerationRulesParameter or ModerationRulesObject, not both: send refuses to start with both.',
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
    // The optional features: each grants its permission only when its parameter is set.
    const conditions: Record<string, CfnCondition> = {};
    for (const [kind, c] of Object.entries(contract.conditionalPermissions)) {
      const param = allParams[c.parameter];
      if (!param) throw new Error(`contract: conditional permission ${kind} names unknown parameter ${c.parameter}`);
      conditions[c.condition] ??= new CfnCondition(this, c.condition, {
        expression: Fn.conditionNot(Fn.conditionEquals(param.valueAsString, '')),
      });
    }
    const condition = (name: string): CfnCondition => {
      const found = conditions[name];
      if (!found) throw new Error(`contract: unknown condition ${name}`);
      return found;
    };

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

    // ------------------------------------------------------------ analytics export (only with ExportBucketArn)
    // A Firehose delivery stream (DirectPut -> S3) the fanout puts stored messages on, with its own role
    // holding only what the contract's export lists, on that bucket (objects under its prefix alone).
    const exp = contract.export;
    const exportEnabled = condition(exp.condition);
    const exportBucket = allParams[exp.bucketParameter];
    if (!exportBucket) throw new Error(`contract: export names unknown parameter ${exp.bucketParameter}`);
    const exportRole = new Role(this, exp.roleLogicalId, {
      assumedBy: new ServicePrincipal('firehose.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      inlinePolicies: {
        'starling-export': new PolicyDocument({
          statements: [
            new PolicyStatement({
              sid: 'Bucket',
              actions: [...exp.rolePermissions.bucket],
              resources: [exportBucket.valueAsString],
            }),
            new PolicyStatement({
              sid: 'Objects',
              actions: [...exp.rolePermissions.objects],
              resources: [`${exportBucket.valueAsString}/${exp.objectsUnder}*`],
            }),
          ],
        }),
      },
    });
    cfn(exportRole).overrideLogicalId(exp.roleLogicalId);
    cfn(exportRole).cfnOptions.condition = exportEnabled;
    // Server-side encryption with an AWS owned key (checkov's CKV_AWS_240; it has no CloudFormation check of
    // Firehose, and CKV_AWS_241's customer managed key would add a key policy and KMS cost). The objects take
    // the bucket's own default encryption.
    const exportStream = new CfnDeliveryStream(this, exp.logicalId, {
      deliveryStreamType: 'DirectPut',
      deliveryStreamEncryptionConfigurationInput: { keyType: exp.encryptionKeyType },
      extendedS3DestinationConfiguration: {
        bucketArn: exportBucket.valueAsString,
        roleArn: exportRole.roleArn,
        prefix: exp.prefix,
        errorOutputPrefix: exp.errorOutputPrefix,
        compressionFormat: exp.compressionFormat,
        bufferingHints: {
          intervalInSeconds: exp.bufferingHints.IntervalInSeconds,
          sizeInMBs: exp.bufferingHints.SizeInMBs,
        },
      },
    });
    exportStream.cfnOptions.condition = exportEnabled;
    Validations.of(exportStream).acknowledge({
      id: 'CloudFormation-Validate::W1030',
      reason: 'BucketARN is ExportBucketArn, which is not empty whenever the stream exists (condition ExportEnabled).',
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
      const role = new Role(this, `${id}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
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

    // ------------------------------------------------------------ monitoring (contract.alarms, contract.dashboard)
    const metricsNamespace = allParams[contract.metrics.namespaceParameter];
    if (!metricsNamespace) throw new Error(`contract: unknown metrics namespace parameter`);
    const queues = { Queue: queue, DeliverQueue: deliverQueue, DeadLetterQueue: deadLetterQueue };
    /** Namespace, metric name and dimensions of a contract metric. */
    const metricOf = (m: MetricRef): { namespace: string; name: string; dimensions: Array<{ name: string; value: string }> } => {
      if (m.namespace === undefined) {
        const known = [
          ...(contract.metrics.counters[m.function] ?? []),
          ...Object.keys(contract.metrics.histograms[m.function] ?? {}),
        ];
        if (!known.includes(m.metric)) throw new Error(`contract: ${m.function} has no metric ${m.metric}`);
        return {
          namespace: metricsNamespace.valueAsString,
          name: m.metric,
          dimensions: [{ name: contract.metrics.dimension, value: m.function }],
        };
      }
      if (m.namespace === 'AWS/Lambda') {
        return { namespace: m.namespace, name: m.metric, dimensions: [{ name: 'FunctionName', value: functions[m.function].functionName }] };
      }
      return { namespace: m.namespace, name: m.metric, dimensions: [{ name: 'QueueName', value: queues[m.queue].queueName }] };
    };
    for (const [logicalId, spec] of Object.entries(contract.alarms)) {
      const metrics = spec.metrics.map(metricOf);
      const threshold =
        typeof spec.threshold === 'number'
          ? spec.threshold
          : (() => {
              const param = allParams[spec.threshold.parameter];
              if (!param) throw new Error(`contract: alarm ${logicalId} names unknown parameter ${spec.threshold.parameter}`);
              return param.valueAsNumber;
            })();
      const dims = (m: (typeof metrics)[number]) => m.dimensions.map((d) => ({ name: d.name, value: d.value }));
      const single = metrics.length === 1 ? metrics[0]! : undefined;
      const created = new CfnAlarm(this, logicalId, {
        alarmDescription: spec.description,
        evaluationPeriods: spec.evaluationPeriods,
        threshold,
        comparisonOperator: spec.comparison,
        treatMissingData: spec.treatMissingData,
        alarmActions: Fn.conditionIf(hasAlarmTopic.logicalId, [alarmTopicArn.valueAsString], Aws.NO_VALUE) as unknown as string[],
        ...(single
          ? {
              namespace: single.namespace,
              metricName: single.name,
              dimensions: dims(single),
              statistic: spec.statistic,
              period: spec.periodSeconds,
            }
          : {
              // Several metrics: their sum, by metric math.
              metrics: [
                ...metrics.map((m, i) => ({
                  id: `m${i + 1}`,
                  metricStat: {
                    metric: { namespace: m.namespace, metricName: m.name, dimensions: dims(m) },
                    period: spec.periodSeconds,
                    stat: spec.statistic,
                  },
                  returnData: false,
                })),
                {
                  id: 'total',
                  expression: `SUM([${metrics.map((_, i) => `m${i + 1}`).join(',')}])`,
                  label: spec.label,
                  returnData: true,
                },
              ],
            }),
      });
      Validations.of(created).acknowledge({
        id: 'CloudFormation-Validate::W1030',
        reason: 'AlarmActions uses AlarmTopicArn only under the HasAlarmTopic condition (not empty).',
      });
    }
    const dash = contract.dashboard;
    const dashboard = new CfnDashboard(this, dash.logicalId, {
      dashboardName: Fn.sub(dash.name),
      dashboardBody: this.toJsonString({
        widgets: dash.widgets.map((w) => ({
          type: 'metric',
          width: w.width,
          height: dash.widgetHeight,
          properties: {
            title: w.title,
            view: 'timeSeries',
            region: Aws.REGION,
            stat: w.stat,
            period: dash.periodSeconds,
            metrics: w.metrics.map((m) => {
              const { namespace, name, dimensions } = metricOf(m);
              const options = {
                ...(m.stat !== undefined ? { stat: m.stat } : {}),
                ...(m.label !== undefined ? { label: m.label } : {}),
              };
              return [
                namespace,
                name,
                ...dimensions.flatMap((d) => [d.name, d.value]),
                ...(Object.keys(options).length ? [options] : []),
              ];
            }),
          },
        })),
      }),
    });
    dashboard.overrideLogicalId(dash.logicalId);

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
    new CfnOutput(this, 'DashboardName', { description: 'The CloudWatch dashboard of the stack.', value: dashboard.ref });
    new CfnOutput(this, 'ExportStreamName', {
      description: 'The Firehose delivery stream the fanout exports messages to (only with ExportBucketArn).',
      value: exportStream.ref,
      condition: exportEnabled,
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
