// The Starling stack in CDK: the same resources, logical ids, parameters and outputs as
// infra/sam/template.yaml. infra/parity compares the two synthesized templates.
// Composed of the modules beside it: parameters, conditions (rules, conditional permissions), data (table and
// queues), export-stream, functions (roles and policies), observability (alarms, dashboard), websocket-api.
import { Aws, CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { defineRulesAndConditions } from './conditions.js';
import { type Contract, loadContract } from './contract.js';
import { defineData } from './data.js';
import { defineExportStream } from './export-stream.js';
import { defineFunctions } from './functions.js';
import { addContractAlarmsAndDashboard, addQueueAlarms } from './observability.js';
import { defineParameters } from './parameters.js';
import { defineWebSocketApi } from './websocket-api.js';

export { functionAssetPath } from './functions.js';

export interface StarlingStackProps extends StackProps {
  /**
   * Folder holding `starling-<name>/bootstrap.zip` for every function, as written by
   * `cargo lambda build --release --arm64 --output-format zip` (its default is `<workspace>/target/lambda`).
   */
  readonly lambdaAssetDir: string;
  /** The contract (defaults to infra/contract.json). */
  readonly contract?: Contract;
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

    // Each part in turn, in the template's order (the construct ids and logical ids are the parts' own).
    const params = defineParameters(this);
    const { stageName } = params;
    const conditions = defineRulesAndConditions(this, contract, params);
    const { hasAlarmTopic, createApiGatewayAccount, condition } = conditions;
    const data = defineData(this, contract, params.maxReceiveCount);
    const { table, deadLetterQueue, queue, deliverQueue } = data;
    addQueueAlarms(this, contract, data, params, hasAlarmTopic);
    const { exportEnabled, exportStream } = defineExportStream(this, contract, params.allParams, condition);
    const fns = defineFunctions(this, contract, props.lambdaAssetDir, params, conditions, data, exportStream);
    const dashboard = addContractAlarmsAndDashboard(this, contract, data, params, hasAlarmTopic, fns.functions);
    const api = defineWebSocketApi(this, contract, params, createApiGatewayAccount, fns);

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
