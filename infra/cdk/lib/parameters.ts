// The stack's CloudFormation parameters (same names as SAM), and the lookups of them by name.
import { CfnParameter, type Stack } from 'aws-cdk-lib';

const LOG_RETENTION_VALUES = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** Every parameter of the stack, created on `scope` in the template's order. */
export function defineParameters(scope: Stack) {
  // ------------------------------------------------------------ parameters (same names as SAM)
  const stageName = new CfnParameter(scope, 'StageName', {
    type: 'String',
    default: 'prod',
    allowedPattern: '^[A-Za-z0-9_-]{1,128}$',
    description: 'API Gateway stage name; the last path segment of the WebSocket URL.',
  });
  // Not NoEcho: it names the secret, it is not the secret.
  const jwtSecretId = new CfnParameter(scope, 'JwtSecretId', {
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
  const oidcIssuer = new CfnParameter(scope, 'OidcIssuer', {
    type: 'String',
    default: '',
    ...httpsUrlOrEmpty,
    description:
      'STARLING_OIDC_ISSUER, the OIDC issuer whose RS256/ES256 tokens the authorizer accepts, exactly as their iss claim ' +
      'says it (Cognito: https://cognito-idp.{region}.amazonaws.com/{userPoolId}). Empty keeps HS256 tokens signed with ' +
      'the JwtSecretId secret; once set, that secret is neither read nor accepted.',
  });
  const oidcAudience = new CfnParameter(scope, 'OidcAudience', {
    type: 'String',
    default: '',
    allowedPattern: '^([^,\\s]+(,[^,\\s]+)*)?$',
    constraintDescription: 'must be empty or audiences separated by commas, without spaces.',
    description:
      'STARLING_OIDC_AUDIENCE, the accepted audiences, comma-separated (Cognito: the app client id); required when ' +
      'OidcIssuer is set. A token passes when its aud (string or array) holds one of them, or, without aud, its client_id does.',
  });
  const oidcJwksUrl = new CfnParameter(scope, 'OidcJwksUrl', {
    type: 'String',
    default: '',
    ...httpsUrlOrEmpty,
    description:
      "STARLING_OIDC_JWKS_URL, where the issuer's signing keys are. Empty means {OidcIssuer}/.well-known/jwks.json " +
      "(Cognito's and Auth0's location).",
  });
  const oidcUserClaim = new CfnParameter(scope, 'OidcUserClaim', {
    type: 'String',
    default: 'sub',
    allowedPattern: '^\\S+$',
    constraintDescription: 'must be a claim name (not empty, no spaces).',
    description:
      'STARLING_OIDC_USER_CLAIM, the claim whose value becomes the Starling user id (sub, cognito:username, email, ...); ' +
      'a value that is not 1-128 characters of [A-Za-z0-9._@:+=|-] refuses the connection.',
  });
  const burst = new CfnParameter(scope, 'ThrottlingBurstLimit', {
    type: 'Number',
    default: 1000,
    minValue: 1,
    description: 'Stage default route throttling, burst (requests).',
  });
  const rate = new CfnParameter(scope, 'ThrottlingRateLimit', {
    type: 'Number',
    default: 500,
    minValue: 1,
    description: 'Stage default route throttling, steady rate (requests per second).',
  });
  const maxReceiveCount = new CfnParameter(scope, 'MaxReceiveCount', {
    type: 'Number',
    default: 100,
    minValue: 1,
    maxValue: 1000,
    description: 'Receives of a fanout message before SQS moves it to the dead-letter queue.',
  });
  const numberParam = (name: string, dflt: number, description: string) =>
    new CfnParameter(scope, name, { type: 'Number', default: dflt, minValue: 1, description });
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
    Shards: new CfnParameter(scope, 'Shards', {
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
    WsEndpoint: new CfnParameter(scope, 'WsEndpoint', {
      type: 'String',
      default: '',
      description:
        'STARLING_WS_ENDPOINT, the management endpoint send and fanout post to. Empty derives it from the event ' +
        '(https://{apiId}.execute-api.{region}.amazonaws.com/{stage}); set it when clients use a custom domain.',
    }),
    RustLog: new CfnParameter(scope, 'RustLog', {
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
    MetricsNamespace: new CfnParameter(scope, 'MetricsNamespace', {
      type: 'String',
      default: 'Starling',
      allowedPattern: '^[A-Za-z0-9._/#:-]{1,255}$',
      constraintDescription: 'must be 1-255 characters of letters, digits and . _ / # : -',
      description:
        'STARLING_METRICS_NAMESPACE, the CloudWatch namespace of the functions\' metrics (EMF in their logs, dimension ' +
        'Function); the dashboard and the custom-metric alarms read it.',
    }),
    ModerationRulesParameter: new CfnParameter(scope, 'ModerationRulesParameter', {
      type: 'String',
      default: '',
      allowedPattern: '^(/[A-Za-z0-9/_.-]+)?$',
      constraintDescription: 'must be empty or an SSM parameter name starting with /.',
      description:
        'STARLING_MODERATION_PARAMETER, the SSM parameter (String or SecureString, name starting with /) holding the moderation rules JSON ' +
        '(docs/moderation.md); send may read that parameter alone. Empty: no rules from SSM.',
    }),
    ModerationRulesObject: new CfnParameter(scope, 'ModerationRulesObject', {
      type: 'String',
      default: '',
      allowedPattern: '^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\\S+)?$',
      constraintDescription: 'must be empty or bucket/key.',
      description:
        'STARLING_MODERATION_OBJECT, the S3 object (bucket/key) holding the moderation rules JSON; send may read that ' +
        'object alone. Empty: no rules from S3. At most one of ModerationRulesParameter and ModerationRulesObject.',
    }),
    ModerationTtlSecs: new CfnParameter(scope, 'ModerationTtlSecs', {
      type: 'Number',
      default: 60,
      minValue: 1,
      maxValue: 3600,
      description: 'STARLING_MODERATION_TTL_SECS, how long send keeps the loaded rules before reading them again.',
    }),
    ModerationHookArn: new CfnParameter(scope, 'ModerationHookArn', {
      type: 'String',
      default: '',
      allowedPattern:
        '^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?)?$',
      constraintDescription: 'must be empty or a Lambda function ARN (optionally with a version or alias).',
      description:
        'STARLING_MODERATION_HOOK, a Lambda function send invokes synchronously on every message (docs/deploy.md); ' +
        'send may invoke that function alone. Empty: no hook.',
    }),
    ModerationHookTimeoutMs: new CfnParameter(scope, 'ModerationHookTimeoutMs', {
      type: 'Number',
      default: 200,
      minValue: 10,
      maxValue: 5000,
      description: "STARLING_MODERATION_HOOK_TIMEOUT_MS, how long send waits for the hook's answer.",
    }),
    ModerationHookFailure: new CfnParameter(scope, 'ModerationHookFailure', {
      type: 'String',
      default: 'open',
      allowedValues: ['open', 'closed'],
      description:
        'STARLING_MODERATION_HOOK_FAILURE, what send does when the hook fails or times out: open accepts the message, ' +
        'closed refuses it.',
    }),
    ExportBodies: new CfnParameter(scope, 'ExportBodies', {
      type: 'String',
      default: 'false',
      allowedValues: ['false', 'true'],
      description: 'STARLING_EXPORT_BODIES, whether exported records include the message bodies.',
    }),
  };
  const exportBucketArn = new CfnParameter(scope, 'ExportBucketArn', {
    type: 'String',
    default: '',
    allowedPattern: '^(arn:aws[a-zA-Z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$',
    constraintDescription: 'must be empty or an S3 bucket ARN (arn:aws:s3:::NAME).',
    description:
      "An existing S3 bucket's ARN: set, the stack creates a Firehose delivery stream writing every stored message to " +
      'it (STARLING_EXPORT_STREAM). Empty: no export.',
  });
  const postThrottledAlarmThreshold = new CfnParameter(scope, 'PostThrottledAlarmThreshold', {
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
  const memorySize = new CfnParameter(scope, 'FunctionMemorySize', {
    type: 'Number',
    default: 128,
    minValue: 128,
    maxValue: 10240,
    description: 'Memory (MB) of every function.',
  });
  const logRetentionDays = new CfnParameter(scope, 'LogRetentionDays', {
    type: 'Number',
    default: '30', // a string, like the AllowedValues it must be one of
    allowedValues: LOG_RETENTION_VALUES.map(String),
    description: 'Retention of the function and access log groups.',
  });
  const queueAgeAlarmSeconds = new CfnParameter(scope, 'QueueAgeAlarmSeconds', {
    type: 'Number',
    default: 600,
    minValue: 60,
    description:
      'Alarm when the oldest message of the fanout queue is older than this (the fanout is falling behind or a room is stuck).',
  });
  const alarmTopicArn = new CfnParameter(scope, 'AlarmTopicArn', {
    type: 'String',
    default: '',
    description:
      'Optional SNS topic ARN notified by every alarm of the stack (dead-letter queue, queue ages, fanout errors, throttles).',
  });
  const configureApiGatewayAccount = new CfnParameter(scope, 'ConfigureApiGatewayAccount', {
    type: 'String',
    default: 'false',
    allowedValues: ['true', 'false'],
    description:
      '"true" sets this region\'s account-wide API Gateway CloudWatch Logs role (needed once per account and ' +
      'region before stage access logging works). Leave "false" when the account already has one.',
  });
  return {
    stageName,
    jwtSecretId,
    oidcIssuer,
    oidcAudience,
    oidcJwksUrl,
    burst,
    rate,
    maxReceiveCount,
    envParams,
    allParams,
    memorySize,
    logRetentionDays,
    queueAgeAlarmSeconds,
    alarmTopicArn,
    configureApiGatewayAccount,
  };
}

export type StarlingParameters = ReturnType<typeof defineParameters>;
