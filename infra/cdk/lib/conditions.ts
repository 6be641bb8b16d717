// The rules (OIDC settings, one moderation rules source) and the conditions, the conditional permissions' included.
import { CfnCondition, type CfnParameter, CfnRule, Fn, type Stack } from 'aws-cdk-lib';
import type { Contract } from './contract.js';
import type { StarlingParameters } from './parameters.js';

/** The rules and conditions, created on `scope`; `condition` finds a conditional permission's by name. */
export function defineRulesAndConditions(scope: Stack, contract: Contract, params: StarlingParameters) {
  const { oidcIssuer, oidcAudience, oidcJwksUrl, envParams, allParams } = params;
  const { alarmTopicArn, jwtSecretId, configureApiGatewayAccount } = params;
  // ------------------------------------------------------------ rules (same as SAM)
  // Checked when the change set is made, before anything is deployed: OIDC settings the authorizer
  // would refuse to start with, or never read.
  const isEmpty = (param: CfnParameter) => Fn.conditionEquals(param.valueAsString, '');
  new CfnRule(scope, 'OidcIssuerSet', {
    ruleCondition: Fn.conditionNot(isEmpty(oidcIssuer)),
    assertions: [
      {
        assert: Fn.conditionNot(isEmpty(oidcAudience)),
        assertDescription:
          'OidcAudience is required when OidcIssuer is set (for a Cognito user pool, its app client id).',
      },
    ],
  });
  new CfnRule(scope, 'OidcIssuerEmpty', {
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
  new CfnRule(scope, 'ModerationRulesOneSource', {
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
  const hasAlarmTopic = new CfnCondition(scope, 'HasAlarmTopic', {
    expression: Fn.conditionNot(Fn.conditionEquals(alarmTopicArn.valueAsString, '')),
  });
  const jwtSecretIsArn = new CfnCondition(scope, 'JwtSecretIsArn', {
    expression: Fn.conditionEquals(Fn.select(0, Fn.split(':', jwtSecretId.valueAsString)), 'arn'),
  });
  const jwtSecretIsSsmName = new CfnCondition(scope, 'JwtSecretIsSsmName', {
    expression: Fn.conditionEquals(Fn.select(0, Fn.split('/', jwtSecretId.valueAsString)), ''),
  });
  const createApiGatewayAccount = new CfnCondition(scope, 'CreateApiGatewayAccount', {
    expression: Fn.conditionEquals(configureApiGatewayAccount.valueAsString, 'true'),
  });
  // The optional features: each grants its permission only when its parameter is set.
  const conditions: Record<string, CfnCondition> = {};
  for (const [kind, c] of Object.entries(contract.conditionalPermissions)) {
    const param = allParams[c.parameter];
    if (!param) throw new Error(`contract: conditional permission ${kind} names unknown parameter ${c.parameter}`);
    conditions[c.condition] ??= new CfnCondition(scope, c.condition, {
      expression: Fn.conditionNot(Fn.conditionEquals(param.valueAsString, '')),
    });
  }
  const condition = (name: string): CfnCondition => {
    const found = conditions[name];
    if (!found) throw new Error(`contract: unknown condition ${name}`);
    return found;
  };
  return { hasAlarmTopic, jwtSecretIsArn, jwtSecretIsSsmName, createApiGatewayAccount, condition };
}

export type StarlingConditions = ReturnType<typeof defineRulesAndConditions>;
