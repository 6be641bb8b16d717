// Observability: the queue alarms, the contract's alarms (contract.alarms) and the dashboard (contract.dashboard).
import { Aws, type CfnCondition, type CfnParameter, Duration, Fn, type Stack, Validations } from 'aws-cdk-lib';
import {
  Alarm,
  type AlarmProps,
  CfnAlarm,
  CfnDashboard,
  ComparisonOperator,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { cfn } from './cfn.js';
import type { Contract, FunctionKey, MetricRef } from './contract.js';
import type { StarlingData } from './data.js';
import type { StarlingParameters } from './parameters.js';

/** The dead-letter queue's alarm and the two queues' oldest-message alarms, created on `scope`. */
export function addQueueAlarms(
  scope: Stack,
  contract: Contract,
  data: StarlingData,
  params: StarlingParameters,
  hasAlarmTopic: CfnCondition,
) {
  const { deadLetterQueue, queue, deliverQueue } = data;
  const { queueAgeAlarmSeconds, alarmTopicArn } = params;
  const deliver = contract.deliverQueue;
  // Each alarm notifies AlarmTopicArn when one is given.
  const alarm = (logicalId: string, props: AlarmProps) => {
    const created = new Alarm(scope, logicalId, props);
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
}

/** The contract's alarms and the dashboard, created on `scope`; returns the dashboard. */
export function addContractAlarmsAndDashboard(
  scope: Stack,
  contract: Contract,
  data: StarlingData,
  params: StarlingParameters,
  hasAlarmTopic: CfnCondition,
  functions: Record<FunctionKey, LambdaFunction>,
) {
  const { deadLetterQueue, queue, deliverQueue } = data;
  const { allParams, alarmTopicArn } = params;
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
    const created = new CfnAlarm(scope, logicalId, {
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
  const dashboard = new CfnDashboard(scope, dash.logicalId, {
    dashboardName: Fn.sub(dash.name),
    dashboardBody: scope.toJsonString({
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
  return dashboard;
}
