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
  | 'jwtParameter';

export type EnvSource =
  | { parameter: string }
  | { resource: 'Table' | 'Queue' | 'DeadLetterQueue' | 'DeliverQueue' };

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
