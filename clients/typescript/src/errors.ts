import { ERROR_CODES, type ErrorCode, type ErrorFrame } from './generated/protocol.js';

/**
 * Codes the SDK itself gives, beside the server's {@link ErrorCode}s:
 * - `timeout`: no reply came in time;
 * - `closed`: the client was closed (`client.close()`) before the request completed.
 */
export type ClientErrorCode = 'timeout' | 'closed';

/** Every code a {@link StarlingError} can carry. */
export type StarlingErrorCode = ErrorCode | ClientErrorCode;

/** Where a {@link StarlingError} came from. */
export interface StarlingErrorInit {
  /** The request's `action`, when known. */
  action?: string;
  /** For `send`: the message's `clientMsgId`. */
  clientMsgId?: string;
  /** For `rate_limited`: milliseconds after which the same request is admitted. */
  retryAfterMs?: number;
  /** For `rejected`: why moderation refused the message (`blocked_term`, …, or the hook's code). */
  reason?: string;
  /** `true` when the SDK refused the request before sending it (the server's limits, checked locally). */
  local?: boolean;
}

/**
 * A refused or failed request. `code` is the server's error code (protocol.md §5), or a
 * {@link ClientErrorCode}. Branch on `code`; `message` is for people.
 */
export class StarlingError extends Error {
  /** The error code: the server's, or the SDK's own. */
  readonly code: StarlingErrorCode;
  /** The request's `action`, when known. */
  readonly action: string | undefined;
  /** For `send`: the message's `clientMsgId`. */
  readonly clientMsgId: string | undefined;
  /** For `rate_limited`: when the same request is admitted, in milliseconds. */
  readonly retryAfterMs: number | undefined;
  /** For `rejected`: why moderation refused the message. Do not resend the same body. */
  readonly reason: string | undefined;
  /** `true` when the SDK refused the request without sending it. */
  readonly local: boolean;

  constructor(code: StarlingErrorCode, message: string, init: StarlingErrorInit = {}) {
    super(message);
    this.name = 'StarlingError';
    this.code = code;
    this.action = init.action;
    this.clientMsgId = init.clientMsgId;
    this.retryAfterMs = init.retryAfterMs;
    this.reason = init.reason;
    this.local = init.local ?? false;
  }
}

/** The error an `error` frame stands for; an unknown code counts as `internal` (protocol.md §9). */
export function errorFromFrame(frame: ErrorFrame): StarlingError {
  const code = (ERROR_CODES as readonly string[]).includes(frame.code) ? frame.code : 'internal';
  const init: StarlingErrorInit = {};
  if (frame.action !== undefined) init.action = frame.action;
  if (frame.clientMsgId !== undefined) init.clientMsgId = frame.clientMsgId;
  if (frame.retryAfterMs !== undefined) init.retryAfterMs = frame.retryAfterMs;
  if (frame.reason !== undefined) init.reason = frame.reason;
  return new StarlingError(code, frame.message, init);
}

/** Whether a request refused with `code` may succeed if sent again unchanged. */
export function isRetryable(code: StarlingErrorCode): boolean {
  return code === 'rate_limited' || code === 'internal' || code === 'timeout';
}
