// CDK assertion tests: node --import tsx --test test/*.test.ts
// The stack is synthesized against placeholder zips (scripts/placeholder-assets.ts): no Rust build here.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { FUNCTION_KEYS, loadContract } from '../lib/contract.js';
import { StarlingStack } from '../lib/starling-stack.js';
import { writePlaceholderAssets } from '../scripts/placeholder-assets.js';

const contract = loadContract();
let assetDir: string;
let template: Template;
// Synthesized CloudFormation is untyped JSON.
type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
let resources: Record<string, Json>;

function synth(dir: string): Template {
  const app = new App();
  const stack = new StarlingStack(app, 'Starling', { lambdaAssetDir: dir });
  return Template.fromStack(stack);
}

before(() => {
  assetDir = writePlaceholderAssets(mkdtempSync(join(tmpdir(), 'starling-assets-')));
  template = synth(assetDir);
  resources = template.toJSON().Resources;
});

after(() => rmSync(assetDir, { recursive: true, force: true }));

function props(logicalId: string): Json {
  const resource = resources[logicalId];
  assert.ok(resource, `resource ${logicalId} exists`);
  return resource.Properties;
}

/** A statement and the condition it is granted under (Fn::If [condition, statement, AWS::NoValue]). */
function unwrap(st: Json): [Json, string | undefined] {
  if (st['Fn::If']) {
    const [condition, then, otherwise] = st['Fn::If'];
    assert.deepEqual(otherwise, { Ref: 'AWS::NoValue' });
    return [then, condition];
  }
  return [st, undefined];
}

/** [action, resource, condition] granted to a role, one per action and resource; condition undefined: always. */
function grants(roleId: string): Array<[string, Json, string | undefined]> {
  const out: Array<[string, Json, string | undefined]> = [];
  const role = props(roleId);
  for (const policy of role.Policies ?? []) {
    for (const raw of policy.PolicyDocument.Statement) {
      const [st, when] = unwrap(raw);
      assert.equal(st.Effect, 'Allow');
      for (const action of [st.Action].flat()) for (const res of [st.Resource].flat()) out.push([action, res, when]);
    }
  }
  return out;
}

describe('functions', () => {
  it('has the five Rust functions on provided.al2023 arm64 with handler bootstrap', () => {
    template.resourceCountIs('AWS::Lambda::Function', 5);
    for (const key of FUNCTION_KEYS) {
      const fn = props(contract.functions[key].logicalId);
      assert.equal(fn.Runtime, 'provided.al2023');
      assert.deepEqual(fn.Architectures, ['arm64']);
      assert.equal(fn.Handler, 'bootstrap');
      assert.equal(fn.Timeout, contract.functions[key].timeoutSeconds);
      assert.deepEqual(fn.MemorySize, { Ref: 'FunctionMemorySize' });
      assert.deepEqual(fn.LoggingConfig, { LogGroup: { Ref: `${contract.functions[key].logicalId}LogGroup` } });
    }
  });

  it('gives each function exactly the environment variable names of the contract', () => {
    for (const key of FUNCTION_KEYS) {
      const spec = contract.functions[key];
      const vars = props(spec.logicalId).Environment.Variables;
      assert.deepEqual(Object.keys(vars).sort(), Object.keys(spec.environment).sort(), key);
      for (const [name, source] of Object.entries(spec.environment)) {
        const want =
          'parameter' in source
            ? { Ref: source.parameter }
            : source.condition
              ? { 'Fn::If': [source.condition, { Ref: source.resource }, ''] }
              : { Ref: source.resource };
        assert.deepEqual(vars[name], want, `${key} ${name}`);
      }
    }
    // The JWT secret is named by a parameter, never inline.
    assert.deepEqual(props('AuthorizerFunction').Environment.Variables.STARLING_JWT_SECRET_ID, { Ref: 'JwtSecretId' });
    assert.equal(JSON.stringify(template.toJSON()).includes('STARLING_JWT_SECRET"'), false);
  });

  it('grants each role exactly the actions of the contract, on named resources only', () => {
    for (const key of FUNCTION_KEYS) {
      const spec = contract.functions[key];
      const role = props(`${spec.logicalId}Role`);
      assert.equal(role.ManagedPolicyArns, undefined, `${key}: no managed policies`);
      assert.deepEqual(role.AssumeRolePolicyDocument.Statement[0].Principal, { Service: 'lambda.amazonaws.com' });
      const granted = grants(`${spec.logicalId}Role`);
      const actions = [...new Set(granted.map(([a]) => a))].sort();
      const want = [...new Set(Object.values(spec.permissions).flat())].sort();
      assert.deepEqual(actions, want, key);
      for (const [action, res] of granted) {
        assert.notEqual(res, '*', `${key}: ${action} on *`);
        assert.ok(!action.includes('*'), `${key}: wildcard action ${action}`);
      }
    }
    // No AWS::IAM::Policy side documents (grants would land there): everything is inline on the roles.
    template.resourceCountIs('AWS::IAM::Policy', 0);
  });

  it('scopes DynamoDB to the table (and gsi1 for fanout alone), SQS to the queue', () => {
    const on = (role: string, action: string) =>
      grants(role)
        .filter(([a]) => a === action)
        .map(([, r]) => JSON.stringify(r));
    const table = JSON.stringify({ 'Fn::GetAtt': ['Table', 'Arn'] });
    const queue = JSON.stringify({ 'Fn::GetAtt': ['Queue', 'Arn'] });
    assert.deepEqual(on('SendFunctionRole', 'dynamodb:UpdateItem'), [table]);
    assert.deepEqual(on('SendFunctionRole', 'dynamodb:Query'), [table]);
    assert.deepEqual(on('SendFunctionRole', 'sqs:SendMessage'), [queue]);
    const fanoutQuery = on('FanoutFunctionRole', 'dynamodb:Query');
    assert.equal(fanoutQuery.length, 2);
    assert.ok(fanoutQuery.some((r) => r.includes('/index/gsi1')));
    for (const role of ['ConnectFunctionRole', 'DisconnectFunctionRole']) {
      assert.deepEqual(on(role, 'sqs:SendMessage'), [queue], role);
    }
  });

  it('lets fanout only POST to @connections of this API stage, and send to the DLQ and the delivery queue alone', () => {
    const arns = grants('FanoutFunctionRole')
      .filter(([a]) => a === 'execute-api:ManageConnections')
      .map(([, r]) => JSON.stringify(r));
    assert.equal(arns.length, 1);
    assert.ok(arns[0].includes('/POST/@connections/*'), arns[0]);
    assert.ok(arns[0].includes('{"Ref":"WebSocketApi"}') && arns[0].includes('{"Ref":"StageName"}'), arns[0]);
    const sends = grants('FanoutFunctionRole')
      .filter(([a]) => a === 'sqs:SendMessage')
      .map(([, r]) => JSON.stringify(r));
    assert.deepEqual(sends.sort(), [
      JSON.stringify({ 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] }),
      JSON.stringify({ 'Fn::GetAtt': ['DeliverQueue', 'Arn'] }),
    ]);
  });

  it('gives fanout the delivery queue: send to it, and what its event source mapping needs, on it alone', () => {
    const deliverArn = JSON.stringify({ 'Fn::GetAtt': ['DeliverQueue', 'Arn'] });
    const onDeliver = grants('FanoutFunctionRole')
      .filter(([, r]) => JSON.stringify(r) === deliverArn)
      .map(([a]) => a)
      .sort();
    assert.deepEqual(onDeliver, [...contract.functions.fanout.permissions.deliverQueue!].sort());
    assert.deepEqual(onDeliver, [
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:ReceiveMessage',
      'sqs:SendMessage',
    ]);
    for (const key of FUNCTION_KEYS.filter((k) => k !== 'fanout')) {
      const role = `${contract.functions[key].logicalId}Role`;
      assert.ok(!grants(role).some(([, r]) => JSON.stringify(r) === deliverArn), role);
    }
    const vars = props('FanoutFunction').Environment.Variables;
    assert.deepEqual(vars.STARLING_DELIVER_QUEUE_URL, { Ref: 'DeliverQueue' });
    assert.deepEqual(vars.STARLING_SHARD_THRESHOLD, { Ref: 'ShardThreshold' });
    assert.deepEqual(vars.STARLING_SHARDS, { Ref: 'Shards' });
    assert.deepEqual(vars.STARLING_SHARDED_HOLD_SECS, { Ref: 'ShardedHoldSecs' });
    const params = template.toJSON().Parameters;
    assert.equal(params.ShardThreshold.Default, 2000);
    assert.equal(params.Shards.Default, 16);
    assert.equal(params.Shards.MaxValue, 256);
    assert.equal(params.ShardedHoldSecs.Default, 900);
  });

  it('lets send post to connections (POST only) and nothing else of the API', () => {
    const arns = grants('SendFunctionRole')
      .filter(([a]) => a === 'execute-api:ManageConnections')
      .map(([, r]) => JSON.stringify(r));
    assert.equal(arns.length, 1);
    assert.ok(arns[0]!.includes('/POST/@connections/*'), arns[0]);
    for (const role of ['AuthorizerFunctionRole', 'ConnectFunctionRole', 'DisconnectFunctionRole']) {
      assert.ok(!grants(role).some(([a]) => a.startsWith('execute-api:')), role);
    }
  });

  it('gives the authorizer the OIDC settings from their parameters, empty (HS256) by default, and no new grant', () => {
    const vars = props('AuthorizerFunction').Environment.Variables;
    const params = template.toJSON().Parameters;
    const oidc: Record<string, [string, string]> = {
      STARLING_OIDC_ISSUER: ['OidcIssuer', ''],
      STARLING_OIDC_AUDIENCE: ['OidcAudience', ''],
      STARLING_OIDC_JWKS_URL: ['OidcJwksUrl', ''],
      STARLING_OIDC_USER_CLAIM: ['OidcUserClaim', 'sub'],
    };
    for (const [name, [parameter, dflt]] of Object.entries(oidc)) {
      assert.deepEqual(vars[name], { Ref: parameter }, name);
      assert.equal(params[parameter].Type, 'String', parameter);
      assert.equal(params[parameter].Default, dflt, parameter);
      assert.ok(params[parameter].Description.startsWith(`${name}, `), parameter);
    }
    // Only the authorizer reads them.
    for (const key of FUNCTION_KEYS.filter((k) => k !== 'authorizer')) {
      const other = props(contract.functions[key].logicalId).Environment.Variables;
      assert.ok(!Object.keys(other).some((n) => n.startsWith('STARLING_OIDC_')), key);
    }
    // The JWKS is public: the authorizer may still only write its logs and read the JWT secret.
    assert.deepEqual([...new Set(grants('AuthorizerFunctionRole').map(([a]) => a))].sort(), [
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'secretsmanager:GetSecretValue',
      'ssm:GetParameter',
    ]);
    // What the parameters' AllowedPatterns let through (CloudFormation matches the whole value).
    const accepts = (parameter: string, value: string) => new RegExp(params[parameter].AllowedPattern).test(value);
    for (const url of ['', 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123', 'https://tenant.auth0.com/']) {
      assert.ok(accepts('OidcIssuer', url) && accepts('OidcJwksUrl', url), url);
    }
    for (const url of ['http://issuer.example.com', 'https://', 'https://a b', 'cognito-idp.amazonaws.com']) {
      assert.ok(!accepts('OidcIssuer', url) && !accepts('OidcJwksUrl', url), url);
    }
    for (const aud of ['', '1example23456789', 'abc,def', 'https://api.example.com']) assert.ok(accepts('OidcAudience', aud), aud);
    for (const aud of ['abc, def', 'abc,', ',abc', 'a b']) assert.ok(!accepts('OidcAudience', aud), aud);
    for (const claim of ['sub', 'cognito:username', 'email', 'https://example.com/user']) {
      assert.ok(accepts('OidcUserClaim', claim), claim);
    }
    for (const claim of ['', 'user name']) assert.ok(!accepts('OidcUserClaim', claim), claim);
  });

  it('refuses, before deploying, an OIDC issuer without audience and an audience or JWKS URL without issuer', () => {
    const rules = template.toJSON().Rules;
    const issuerIsEmpty = { 'Fn::Equals': [{ Ref: 'OidcIssuer' }, ''] };
    assert.deepEqual(rules.OidcIssuerSet.RuleCondition, { 'Fn::Not': [issuerIsEmpty] });
    assert.deepEqual(
      rules.OidcIssuerSet.Assertions.map((a: Json) => a.Assert),
      [{ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'OidcAudience' }, ''] }] }],
    );
    assert.deepEqual(rules.OidcIssuerEmpty.RuleCondition, issuerIsEmpty);
    assert.deepEqual(
      rules.OidcIssuerEmpty.Assertions.map((a: Json) => a.Assert),
      [{ 'Fn::And': [{ 'Fn::Equals': [{ Ref: 'OidcAudience' }, ''] }, { 'Fn::Equals': [{ Ref: 'OidcJwksUrl' }, ''] }] }],
    );
    for (const rule of [rules.OidcIssuerSet, rules.OidcIssuerEmpty]) {
      for (const a of rule.Assertions) assert.match(a.AssertDescription, /^Oidc\w+ /);
    }
  });

  it('lets the authorizer read only the secret or parameter JwtSecretId names', () => {
    const granted = grants('AuthorizerFunctionRole');
    const secret = granted.find(([a]) => a === 'secretsmanager:GetSecretValue');
    const param = granted.find(([a]) => a === 'ssm:GetParameter');
    assert.ok(secret && param);
    assert.equal(secret[1]['Fn::If'][0], 'JwtSecretIsArn');
    assert.deepEqual(secret[1]['Fn::If'][1], { Ref: 'JwtSecretId' });
    assert.equal(param[1]['Fn::If'][2]['Fn::If'][0], 'JwtSecretIsSsmName');
  });
});

describe('moderation, metrics and export (issue #13)', () => {
  const params = () => template.toJSON().Parameters;

  it('gives send the moderation settings and every function the metrics namespace, from their parameters', () => {
    const vars = props('SendFunction').Environment.Variables;
    const moderation: Record<string, [string, string | number]> = {
      STARLING_MODERATION_PARAMETER: ['ModerationRulesParameter', ''],
      STARLING_MODERATION_OBJECT: ['ModerationRulesObject', ''],
      STARLING_MODERATION_TTL_SECS: ['ModerationTtlSecs', 60],
      STARLING_MODERATION_HOOK: ['ModerationHookArn', ''],
      STARLING_MODERATION_HOOK_TIMEOUT_MS: ['ModerationHookTimeoutMs', 200],
      STARLING_MODERATION_HOOK_FAILURE: ['ModerationHookFailure', 'open'],
    };
    for (const [name, [parameter, dflt]] of Object.entries(moderation)) {
      assert.deepEqual(vars[name], { Ref: parameter }, name);
      assert.equal(params()[parameter].Default, dflt, parameter);
      assert.ok(params()[parameter].Description.startsWith(`${name}, `), parameter);
    }
    assert.deepEqual(params().ModerationHookFailure.AllowedValues, ['open', 'closed']);
    assert.equal(params().ModerationTtlSecs.MaxValue, 3600);
    assert.equal(params().ModerationHookTimeoutMs.MinValue, 10);
    assert.equal(params().ModerationHookTimeoutMs.MaxValue, 5000);
    for (const key of FUNCTION_KEYS) {
      const env = props(contract.functions[key].logicalId).Environment.Variables;
      assert.deepEqual(env.STARLING_METRICS_NAMESPACE, { Ref: 'MetricsNamespace' }, key);
      if (key !== 'send') assert.ok(!Object.keys(env).some((n) => n.startsWith('STARLING_MODERATION_')), key);
    }
    assert.equal(params().MetricsNamespace.Default, 'Starling');
    const accepts = (parameter: string, value: string) => new RegExp(params()[parameter].AllowedPattern).test(value);
    for (const ok of ['', '/starling/moderation']) assert.ok(accepts('ModerationRulesParameter', ok), ok);
    for (const bad of ['starling/moderation', 'arn:aws:ssm:us-east-1:123456789012:parameter/x']) {
      assert.ok(!accepts('ModerationRulesParameter', bad), bad);
    }
    for (const ok of ['', 'my-bucket/rules/moderation.json']) assert.ok(accepts('ModerationRulesObject', ok), ok);
    for (const bad of ['my-bucket', 's3://my-bucket/key', 'my-bucket/']) assert.ok(!accepts('ModerationRulesObject', bad), bad);
    for (const ok of ['', 'arn:aws:lambda:us-east-1:123456789012:function:mod', 'arn:aws:lambda:us-east-1:123456789012:function:mod:live']) {
      assert.ok(accepts('ModerationHookArn', ok), ok);
    }
    assert.ok(!accepts('ModerationHookArn', 'mod'));
    for (const ok of ['', 'arn:aws:s3:::my-export-bucket']) assert.ok(accepts('ExportBucketArn', ok), ok);
    assert.ok(!accepts('ExportBucketArn', 'my-export-bucket'));
  });

  it('grants the optional features only under their conditions, each on the one resource its parameter names', () => {
    const conditions = template.toJSON().Conditions;
    for (const [kind, c] of Object.entries(contract.conditionalPermissions)) {
      assert.deepEqual(conditions[c.condition], { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: c.parameter }, ''] }] }, kind);
    }
    const send = grants('SendFunctionRole');
    const only = (action: string, roleGrants: typeof send) => roleGrants.filter(([a]) => a === action);
    const ssm = only('ssm:GetParameter', send);
    assert.equal(ssm.length, 1);
    assert.equal(ssm[0]![2], 'HasModerationParameter');
    assert.ok(JSON.stringify(ssm[0]![1]).includes(':parameter'), JSON.stringify(ssm[0]![1]));
    assert.ok(JSON.stringify(ssm[0]![1]).includes('{"Ref":"ModerationRulesParameter"}'));
    const s3 = only('s3:GetObject', send);
    assert.equal(s3.length, 1);
    assert.equal(s3[0]![2], 'HasModerationObject');
    assert.ok(JSON.stringify(s3[0]![1]).includes(':s3:::'));
    assert.deepEqual(only('lambda:InvokeFunction', send), [['lambda:InvokeFunction', { Ref: 'ModerationHookArn' }, 'HasModerationHook']]);
    assert.deepEqual(only('firehose:PutRecordBatch', grants('FanoutFunctionRole')), [
      ['firehose:PutRecordBatch', { 'Fn::GetAtt': ['ExportStream', 'Arn'] }, 'ExportEnabled'],
    ]);
    // Everything else is unconditional, and no other function gets these actions.
    for (const key of FUNCTION_KEYS) {
      for (const [action, , when] of grants(`${contract.functions[key].logicalId}Role`)) {
        const kinds = Object.entries(contract.functions[key].permissions)
          .filter(([, actions]) => actions.includes(action))
          .map(([kind]) => kind);
        const conditional = kinds.some((k) => k in contract.conditionalPermissions);
        if (!conditional) assert.equal(when, undefined, `${key} ${action}`);
      }
    }
    const rule = template.toJSON().Rules.ModerationRulesOneSource;
    assert.deepEqual(rule.RuleCondition, { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'ModerationRulesParameter' }, ''] }] });
    assert.deepEqual(rule.Assertions[0].Assert, { 'Fn::Equals': [{ Ref: 'ModerationRulesObject' }, ''] });
  });

  it('exports through a Firehose stream to ExportBucketArn, with its own least-privilege role, only when set', () => {
    const stream = resources.ExportStream;
    assert.equal(stream.Type, 'AWS::KinesisFirehose::DeliveryStream');
    assert.equal(stream.Condition, 'ExportEnabled');
    assert.equal(resources.ExportStreamRole.Condition, 'ExportEnabled');
    const p = stream.Properties;
    assert.equal(p.DeliveryStreamType, 'DirectPut');
    assert.deepEqual(p.DeliveryStreamEncryptionConfigurationInput, { KeyType: 'AWS_OWNED_CMK' });
    const s3 = p.ExtendedS3DestinationConfiguration;
    assert.deepEqual(s3.BucketARN, { Ref: 'ExportBucketArn' });
    assert.deepEqual(s3.RoleARN, { 'Fn::GetAtt': ['ExportStreamRole', 'Arn'] });
    assert.equal(s3.CompressionFormat, 'GZIP');
    assert.ok(s3.Prefix.startsWith('starling/messages/'));
    assert.ok(s3.ErrorOutputPrefix.startsWith('starling/errors/'));
    const role = props('ExportStreamRole');
    assert.deepEqual(role.AssumeRolePolicyDocument.Statement[0].Principal, { Service: 'firehose.amazonaws.com' });
    assert.equal(role.ManagedPolicyArns, undefined);
    const granted = grants('ExportStreamRole');
    for (const [action, res] of granted) {
      const json = JSON.stringify(res);
      assert.ok(json.includes('{"Ref":"ExportBucketArn"}'), `${action} on ${json}`);
      if (contract.export.rolePermissions.objects.includes(action)) assert.ok(json.includes('/starling/*'), json);
    }
    assert.deepEqual(
      granted.map(([a]) => a).sort(),
      [...contract.export.rolePermissions.bucket, ...contract.export.rolePermissions.objects].sort(),
    );
    const vars = props('FanoutFunction').Environment.Variables;
    assert.deepEqual(vars.STARLING_EXPORT_STREAM, { 'Fn::If': ['ExportEnabled', { Ref: 'ExportStream' }, ''] });
    assert.deepEqual(vars.STARLING_EXPORT_BODIES, { Ref: 'ExportBodies' });
    assert.deepEqual(params().ExportBodies.AllowedValues, ['false', 'true']);
    assert.equal(params().ExportBodies.Default, 'false');
  });

  it('alarms on fanout errors, function throttles and throttled posts, to AlarmTopicArn', () => {
    for (const id of Object.keys(contract.alarms)) {
      const alarm = props(id);
      assert.deepEqual(alarm.AlarmActions, { 'Fn::If': ['HasAlarmTopic', [{ Ref: 'AlarmTopicArn' }], { Ref: 'AWS::NoValue' }] }, id);
    }
    const errors = props('FanoutErrorsAlarm');
    assert.equal(errors.Namespace, 'AWS/Lambda');
    assert.equal(errors.MetricName, 'Errors');
    assert.deepEqual(errors.Dimensions, [{ Name: 'FunctionName', Value: { Ref: 'FanoutFunction' } }]);
    const throttles = props('FunctionThrottlesAlarm');
    assert.equal(throttles.Metrics.length, 6);
    assert.equal(throttles.Metrics[5].Expression, 'SUM([m1,m2,m3,m4,m5])');
    assert.deepEqual(
      throttles.Metrics.slice(0, 5).map((m: Json) => m.MetricStat.Metric.Dimensions[0].Value.Ref),
      FUNCTION_KEYS.map((k) => contract.functions[k].logicalId),
    );
    const posts = props('PostThrottledAlarm');
    assert.equal(posts.Metrics.length, 3);
    for (const [i, fn] of ['fanout', 'send'].entries()) {
      const metric = posts.Metrics[i].MetricStat.Metric;
      assert.deepEqual(metric.Namespace, { Ref: 'MetricsNamespace' });
      assert.equal(metric.MetricName, 'post_throttled');
      assert.deepEqual(metric.Dimensions, [{ Name: 'Function', Value: fn }]);
    }
    assert.equal(posts.Metrics[2].Expression, 'SUM([m1,m2])');
    assert.deepEqual(posts.Threshold, { Ref: 'PostThrottledAlarmThreshold' });
  });

  it('has a dashboard of every metric the functions emit, the queues and the functions', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(props('Dashboard').DashboardBody);
    for (const [fn, names] of Object.entries(contract.metrics.counters)) {
      for (const name of names!) assert.ok(body.includes(`\\"${name}\\",\\"Function\\",\\"${fn}\\"`), `${fn} ${name}`);
    }
    for (const name of ['fanout_latency_ms', 'batch_size', 'ApproximateAgeOfOldestMessage', 'Duration', 'Throttles']) {
      assert.ok(body.includes(name), name);
    }
  });
});

describe('WebSocket API', () => {
  it('selects routes on $request.body.action', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
  });

  it('routes $connect (authorized), $disconnect and $default to their functions', () => {
    const routes = template.findResources('AWS::ApiGatewayV2::Route');
    const byKey = Object.fromEntries(Object.values(routes).map((r: Json) => [r.Properties.RouteKey, r.Properties]));
    assert.deepEqual(Object.keys(byKey).sort(), ['$connect', '$default', '$disconnect']);
    for (const [routeKey, route] of Object.entries(contract.api.routes)) {
      const target = byKey[routeKey].Target['Fn::Join'][1][1].Ref as string;
      const uri = JSON.stringify(props(target).IntegrationUri);
      assert.ok(uri.includes(`"${contract.functions[route.function].logicalId}"`), `${routeKey} -> ${uri}`);
      assert.equal(props(target).IntegrationType, 'AWS_PROXY');
      assert.equal(byKey[routeKey].AuthorizationType, route.authorizer ? 'CUSTOM' : 'NONE');
    }
    assert.deepEqual(byKey.$connect.AuthorizerId, { Ref: 'Authorizer' });
  });

  it('authorizes $connect with a REQUEST authorizer on the token query parameter', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.token'],
    });
    assert.ok(JSON.stringify(props('Authorizer').AuthorizerUri).includes('AuthorizerFunction'));
  });

  it('returns the send reply to the caller (two-way $default route)', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::RouteResponse', {
      RouteId: { Ref: 'DefaultRoute' },
      RouteResponseKey: '$default',
    });
    assert.equal(props('DefaultRoute').RouteResponseSelectionExpression, '$default');
  });

  it('lets API Gateway invoke each routed function and the authorizer', () => {
    const perms = Object.values(template.findResources('AWS::Lambda::Permission')) as Json[];
    assert.equal(perms.length, 4);
    for (const p of perms) assert.equal(p.Properties.Principal, 'apigateway.amazonaws.com');
  });

  it('has a stage with JSON access logs and throttling from parameters', () => {
    const stage = props('Stage');
    assert.equal(stage.AutoDeploy, true);
    assert.deepEqual(stage.StageName, { Ref: 'StageName' });
    assert.deepEqual(stage.AccessLogSettings.DestinationArn, { 'Fn::GetAtt': ['AccessLogGroup', 'Arn'] });
    assert.deepEqual(JSON.parse(stage.AccessLogSettings.Format), contract.api.accessLogFormat);
    assert.deepEqual(stage.DefaultRouteSettings, {
      ThrottlingBurstLimit: { Ref: 'ThrottlingBurstLimit' },
      ThrottlingRateLimit: { Ref: 'ThrottlingRateLimit' },
    });
  });

  it('outputs the wss:// URL and the https:// management endpoint', () => {
    const outputs = template.toJSON().Outputs;
    const url = JSON.stringify(outputs.WebSocketUrl.Value);
    const mgmt = JSON.stringify(outputs.ManagementEndpoint.Value);
    assert.ok(url.startsWith('{"Fn::Join":["",["wss://",{"Ref":"WebSocketApi"},".execute-api."'), url);
    assert.ok(mgmt.startsWith('{"Fn::Join":["",["https://",{"Ref":"WebSocketApi"},".execute-api."'), mgmt);
    assert.ok(mgmt.endsWith('"/",{"Ref":"StageName"}]]}'), mgmt);
  });
});

describe('queue and fanout', () => {
  it('is a FIFO queue with sender-given dedup ids, visibility >= 6x the fanout timeout, and a FIFO DLQ', () => {
    const queue = props('Queue');
    assert.equal(queue.FifoQueue, true);
    assert.equal(queue.ContentBasedDeduplication, false);
    assert.ok(queue.VisibilityTimeout >= 6 * props('FanoutFunction').Timeout);
    assert.deepEqual(queue.RedrivePolicy, {
      deadLetterTargetArn: { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] },
      maxReceiveCount: { Ref: 'MaxReceiveCount' },
    });
    assert.equal(props('DeadLetterQueue').FifoQueue, true);
    // Well above the fanout's own 5 attempts: the redrive is only the backstop for crashes.
    assert.equal(template.toJSON().Parameters.MaxReceiveCount.Default, 100);
    assert.equal(template.toJSON().Parameters.FanoutMaxAttempts.Default, 5);
  });

  it('alarms when the oldest queued message is older than QueueAgeAlarmSeconds', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['Queue', 'QueueName'] } }],
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: { Ref: 'QueueAgeAlarmSeconds' },
    });
  });

  it('alarms when the DLQ holds any message', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['DeadLetterQueue', 'QueueName'] } }],
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
    });
  });

  it('has a FIFO delivery queue like the queue: same DLQ and redrive limit, visibility >= 6x the fanout timeout', () => {
    const deliver = props('DeliverQueue');
    const queue = props('Queue');
    assert.equal(deliver.FifoQueue, true);
    assert.equal(deliver.ContentBasedDeduplication, false);
    assert.equal(deliver.DeduplicationScope, 'messageGroup');
    assert.equal(deliver.FifoThroughputLimit, 'perMessageGroupId');
    assert.equal(deliver.SqsManagedSseEnabled, true);
    assert.ok(deliver.VisibilityTimeout >= 6 * props('FanoutFunction').Timeout);
    assert.deepEqual(deliver.RedrivePolicy, queue.RedrivePolicy);
    assert.equal(deliver.MessageRetentionPeriod, contract.deliverQueue.messageRetentionSeconds);
    template.resourceCountIs('AWS::SQS::Queue', 3);
  });

  it('alarms when the oldest delivery record is older than QueueAgeAlarmSeconds', () => {
    const alarm = props(contract.deliverQueue.oldestMessageAlarm.logicalId);
    assert.equal(alarm.MetricName, 'ApproximateAgeOfOldestMessage');
    assert.deepEqual(alarm.Dimensions, [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['DeliverQueue', 'QueueName'] } }]);
    assert.deepEqual(alarm.Threshold, { Ref: 'QueueAgeAlarmSeconds' });
    assert.equal(alarm.ComparisonOperator, 'GreaterThanThreshold');
    assert.deepEqual(alarm.AlarmActions, props('QueueAgeAlarm').AlarmActions);
  });

  it('maps the delivery queue to the same fanout in batches of 10 with partial batch failures', () => {
    const esm = props(contract.deliverQueue.eventSourceMapping);
    assert.deepEqual(esm.EventSourceArn, { 'Fn::GetAtt': ['DeliverQueue', 'Arn'] });
    assert.deepEqual(esm.FunctionName, { Ref: 'FanoutFunction' });
    assert.equal(esm.BatchSize, 10);
    assert.deepEqual(esm.FunctionResponseTypes, ['ReportBatchItemFailures']);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
  });

  it('maps the queue to fanout in batches of 10 with partial batch failures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': ['Queue', 'Arn'] },
      FunctionName: { Ref: 'FanoutFunction' },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });
});

describe('table', () => {
  it('is an on-demand pk/sk table with gsi1, TTL on expiresAt, PITR and SSE, retained on delete', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'gsi1',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      },
    });
  });
});

describe('checkov skips', () => {
  it('names every skipped check with a reason', () => {
    let skipped = 0;
    for (const [id, resource] of Object.entries(resources)) {
      for (const skip of resource.Metadata?.checkov?.skip ?? []) {
        assert.match(skip.id, /^CKV_AWS_\d+$/, id);
        assert.ok(typeof skip.comment === 'string' && skip.comment.length > 20, `${id} ${skip.id} has a reason`);
        skipped += 1;
      }
    }
    assert.ok(skipped > 0);
  });
});

describe('assets', () => {
  it('fails with build instructions when a function zip is missing', () => {
    const empty = mkdtempSync(join(tmpdir(), 'starling-empty-'));
    try {
      assert.throws(() => synth(empty), /cargo lambda build --release --arm64 --output-format zip/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
