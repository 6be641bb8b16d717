// The data: the DynamoDB table, the fanout queue, the delivery queue and their dead-letter queue.
import { type CfnParameter, Duration, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { cfn } from './cfn.js';
import { CHECKOV_SKIPS, skipChecks } from './checkov.js';
import type { Contract } from './contract.js';

/** The table and the queues, created on `scope`. */
export function defineData(scope: Stack, contract: Contract, maxReceiveCount: CfnParameter) {
  // ------------------------------------------------------------ data
  const table = new Table(scope, 'Table', {
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
  const deadLetterQueue = new Queue(scope, 'DeadLetterQueue', {
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
    const created = new Queue(scope, logicalId, {
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
  return { table, deadLetterQueue, queue, deliverQueue };
}

export type StarlingData = ReturnType<typeof defineData>;
