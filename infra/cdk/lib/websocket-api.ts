// The WebSocket API: routes, authorizer, integrations, stage, @connections grants, the optional API Gateway account.
import { Aws, CfnResource, type CfnCondition, type Stack } from 'aws-cdk-lib';
import { AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { cfn } from './cfn.js';
import type { Contract } from './contract.js';
import type { StarlingFunctions } from './functions.js';
import type { StarlingParameters } from './parameters.js';

/** The API, its stage and the API Gateway account, created on `scope`; returns the API. */
export function defineWebSocketApi(
  scope: Stack,
  contract: Contract,
  params: StarlingParameters,
  createApiGatewayAccount: CfnCondition,
  fns: StarlingFunctions,
) {
  const { stageName, burst, rate } = params;
  const { functions, logGroup, arnPrefix, connectionStatements } = fns;
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
  const api = new WebSocketApi(scope, 'WebSocketApi', {
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
  const stage = new WebSocketStage(scope, 'Stage', {
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
  const apiGatewayCloudWatchRole = new Role(scope, 'ApiGatewayCloudWatchRole', {
    assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
    managedPolicies: [
      ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs'),
    ],
  });
  cfn(apiGatewayCloudWatchRole).overrideLogicalId('ApiGatewayCloudWatchRole');
  cfn(apiGatewayCloudWatchRole).cfnOptions.condition = createApiGatewayAccount;
  const account = new CfnAccount(scope, 'ApiGatewayAccount', {
    cloudWatchRoleArn: apiGatewayCloudWatchRole.roleArn,
  });
  account.cfnOptions.condition = createApiGatewayAccount;
  return api;
}
