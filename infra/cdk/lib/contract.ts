// The stack contract, read from infra/contract.json: the one place that lists each function's binary,
// timeout, environment variables and IAM actions. The SAM template repeats them (CloudFormation cannot
// read a file) and the parity test (infra/parity) checks both templates against this file.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type FunctionKey = 'authorizer' | 'connect' | 'disconnect' | 'send' | 'fanout';

/** Resource kinds a function may be granted actions on; see the comment in contract.json. */
export type PermissionKind =
  | 'logs'
  | 'table'
  | 'tableIndex'
  | 'queue'
  | 'deadLetterQueue'
  | 'deliverQueue'
  | 'connections'
  | 'connectionsPost'
  | 'jwtSecret'
  | 'jwtParameter'
  | 'moderationParameter'
  | 'moderationObject'
  | 'moderationHook'
  | 'exportStream';

export type EnvSource =
  | { parameter: string }
  /** With a condition: the resource's Ref under that condition, empty otherwise (the resource is not created). */
  | { resource: 'Table' | 'Queue' | 'DeadLetterQueue' | 'DeliverQueue' | 'ExportStream'; condition?: string };

/** A metric of the alarms and the dashboard: Starling's own (EMF) or an AWS/Lambda or AWS/SQS one. */
export type MetricRef = (
  | { namespace?: undefined; metric: string; function: FunctionKey }
  | { namespace: 'AWS/Lambda'; metric: string; function: FunctionKey }
  | { namespace: 'AWS/SQS'; metric: string; queue: 'Queue' | 'DeliverQueue' | 'DeadLetterQueue' }
) & { stat?: string; label?: string };

export interface AlarmContract {
  description: string;
  metrics: MetricRef[];
  /** The metric math label of a sum of several metrics. */
  label?: string;
  statistic: string;
  periodSeconds: number;
  evaluationPeriods: number;
  threshold: number | { parameter: string };
  comparison: string;
  treatMissingData: string;
}

export interface DashboardContract {
  logicalId: string;
  name: string;
  periodSeconds: number;
  widgetHeight: number;
  widgets: Array<{ title: string; stat: string; width: number; metrics: MetricRef[] }>;
}

export interface ExportContract {
  logicalId: string;
  roleLogicalId: string;
  condition: string;
  bucketParameter: string;
  localNameSuffix: string;
  prefix: string;
  errorOutputPrefix: string;
  compressionFormat: string;
  bufferingHints: { IntervalInSeconds: number; SizeInMBs: number };
  encryptionKeyType: string;
  rolePermissions: { bucket: string[]; objects: string[] };
  objectsUnder: string;
}

export interface FunctionContract {
  logicalId: string;
  binary: string;
  crateDir: string;
  timeoutSeconds: number;
  /** '$connect' | '$disconnect' | '$default' for a route, 'authorizer', or null (not called by API Gateway). */
  invokedByApiGateway: string | null;
  environment: Record<string, EnvSource>;
  permissions: Partial<Record<PermissionKind, string[]>>;
}

export interface RouteContract {
  function: FunctionKey;
  authorizer: boolean;
  routeResponse: boolean;
}

export interface Contract {
  functions: Record<FunctionKey, FunctionContract>;
  /** Kinds granted only when a parameter is set: each statement is Fn::If [condition, statement, NoValue]. */
  conditionalPermissions: Partial<Record<PermissionKind, { condition: string; parameter: string }>>;
  export: ExportContract;
  metrics: {
    namespaceParameter: string;
    dimension: string;
    counters: Partial<Record<FunctionKey, string[]>>;
    histograms: Partial<Record<FunctionKey, Record<string, string>>>;
  };
  alarms: Record<string, AlarmContract>;
  dashboard: DashboardContract;
  api: {
    routeSelectionExpression: string;
    routes: Record<string, RouteContract>;
    authorizer: { name: string; identitySource: string[] };
    connectionMethods: string[];
    accessLogFormat: Record<string, string>;
  };
  queue: {
    visibilityTimeoutSeconds: number;
    messageRetentionSeconds: number;
    dlqMessageRetentionSeconds: number;
    batchSize: number;
    functionResponseTypes: string[];
    oldestMessageAlarm: { logicalId: string; thresholdParameter: string };
  };
  /** The FIFO queue of large rooms' shard deliveries: the fanout sends to it and consumes it. */
  deliverQueue: {
    logicalId: string;
    /** Local runs name it `{queue name}{localNameSuffix}.fifo`; not used by the stacks. */
    localNameSuffix: string;
    visibilityTimeoutSeconds: number;
    messageRetentionSeconds: number;
    consumer: FunctionKey;
    eventSourceMapping: string;
    batchSize: number;
    functionResponseTypes: string[];
    oldestMessageAlarm: { logicalId: string; thresholdParameter: string };
  };
}

export const CONTRACT_PATH = fileURLToPath(new URL('../../contract.json', import.meta.url));

export function loadContract(path: string = CONTRACT_PATH): Contract {
  return JSON.parse(readFileSync(path, 'utf8')) as Contract;
}

export const FUNCTION_KEYS: readonly FunctionKey[] = ['authorizer', 'connect', 'disconnect', 'send', 'fanout'];
