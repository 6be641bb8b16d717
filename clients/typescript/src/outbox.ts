import { StarlingError, isRetryable } from './errors.js';
import type { AcceptedFrame, RoomId, SendRequest } from './generated/protocol.js';

/** What a successful `send` resolves with. */
export interface SendReceipt {
  /** The room. */
  room: RoomId;
  /** The message's idempotency key: match it to the `message` event that confirms it was stored. */
  clientMsgId: string;
  /** The id the server gave this request (for a retried send, not necessarily the stored message's id). */
  id: string;
  /** How many times the message was sent before it was accepted (1 unless retried). */
  attempts: number;
}

/** A message waiting in the {@link Outbox}. */
export interface OutboxEntry {
  readonly room: RoomId;
  readonly body: string;
  readonly clientMsgId: string;
  /** Further fields of the `send` request (an encrypted room's `welcome`). */
  readonly extra: Record<string, unknown> | undefined;
  /** Times sent so far. */
  attempts: number;
  /** The link it is out on, waiting for `accepted`; `undefined` while queued. */
  inflight: number | undefined;
  /** Not to be sent before this time (ms since the epoch): after `rate_limited` or `internal`. */
  notBefore: number;
  readonly resolve: (receipt: SendReceipt) => void;
  readonly reject: (error: StarlingError) => void;
}

/** What the outbox did with a refusal of a message of `room`: queued it again for `retryAt`, or rejected it. */
export type Refusal = { room: RoomId } & ({ retryAt: number } | { rejected: StarlingError });

/**
 * Messages the application sent that are not yet `accepted`. Each room's messages go out one
 * at a time, in the order they were sent, so the server sequences them in that order
 * (protocol.md §7, limitation 6). A message whose link closes before `accepted` is queued again
 * and resent with the same `clientMsgId` on the next connection, which the server deduplicates.
 */
export class Outbox {
  readonly #entries: OutboxEntry[] = [];
  readonly #maxAttempts: number;

  /** @param maxAttempts sends of one message refused with a retryable code before its promise rejects. */
  constructor(maxAttempts: number) {
    this.#maxAttempts = maxAttempts;
  }

  /** Messages not yet accepted. */
  get size(): number {
    return this.#entries.length;
  }

  /** The messages not yet accepted, oldest first (read-only views). */
  pending(): ReadonlyArray<Pick<OutboxEntry, 'room' | 'body' | 'clientMsgId' | 'attempts'>> {
    return this.#entries.map(({ room, body, clientMsgId, attempts }) => ({ room, body, clientMsgId, attempts }));
  }

  /** Queues a message (with `extra` fields for the request); the promise settles when it is accepted or finally refused. */
  enqueue(room: RoomId, body: string, clientMsgId: string, extra?: Record<string, unknown>): Promise<SendReceipt> {
    return new Promise((resolve, reject) => {
      this.#entries.push({ room, body, clientMsgId, extra, attempts: 0, inflight: undefined, notBefore: 0, resolve, reject });
    });
  }

  /** Rooms with messages waiting. */
  rooms(): Set<RoomId> {
    return new Set(this.#entries.map((e) => e.room));
  }

  /**
   * The room's next message to send now, or `undefined`: when one is already out, or the
   * oldest must wait (`notBefore`). Returns the wait as `retryAt` through {@link nextRetryAt}.
   */
  next(room: RoomId, now: number): OutboxEntry | undefined {
    const head = this.#entries.find((e) => e.room === room);
    if (head === undefined || head.inflight !== undefined || head.notBefore > now) return undefined;
    return head;
  }

  /** The earliest `notBefore` in the future, to wake up for. */
  nextRetryAt(now: number): number | undefined {
    let at: number | undefined;
    for (const e of this.#entries) if (e.inflight === undefined && e.notBefore > now && (at === undefined || e.notBefore < at)) at = e.notBefore;
    return at;
  }

  /** The request for `entry`, marked as out on `link`. */
  sent(entry: OutboxEntry, link: number): SendRequest {
    entry.inflight = link;
    entry.attempts += 1;
    return { ...entry.extra, action: 'send', room: entry.room, body: entry.body, clientMsgId: entry.clientMsgId };
  }

  /** An `accepted` frame: resolves its message. `false` when none waits for it. */
  accepted(frame: AcceptedFrame): boolean {
    const entry = this.#entries.find((e) => e.clientMsgId === frame.clientMsgId && e.room === frame.room && e.inflight !== undefined);
    if (entry === undefined) return false;
    this.#remove(entry);
    entry.resolve({ room: entry.room, clientMsgId: entry.clientMsgId, id: frame.id, attempts: entry.attempts });
    return true;
  }

  /**
   * An `error` for a send out on `link`, matched by `clientMsgId` (or, when the server left it
   * out, the oldest one out). Retryable codes queue it again after `retryAfterMs` (or
   * `fallbackDelayMs`), up to the attempt limit; any other code rejects it.
   */
  refused(error: StarlingError, link: number, now: number, fallbackDelayMs: number): Refusal | undefined {
    const out = this.#entries.filter((e) => e.inflight === link);
    const entry = out.find((e) => e.clientMsgId === error.clientMsgId) ?? (error.clientMsgId === undefined ? out[0] : undefined);
    if (entry === undefined) return undefined;
    entry.inflight = undefined;
    if (isRetryable(error.code) && entry.attempts < this.#maxAttempts) {
      entry.notBefore = now + (error.retryAfterMs ?? fallbackDelayMs);
      return { room: entry.room, retryAt: entry.notBefore };
    }
    this.#remove(entry);
    const rejected = new StarlingError(error.code, error.message, {
      action: 'send',
      clientMsgId: entry.clientMsgId,
      ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
      ...(error.reason === undefined ? {} : { reason: error.reason }),
    });
    entry.reject(rejected);
    return { room: entry.room, rejected };
  }

  /** The oldest message out on `link`, if any (to fail on a frame without `type`). */
  oldestInflight(link: number): OutboxEntry | undefined {
    return this.#entries.find((e) => e.inflight === link);
  }

  /** `link` closed: its messages out are queued again, to be resent on the next link. */
  linkLost(link: number): void {
    for (const e of this.#entries) if (e.inflight === link) e.inflight = undefined;
  }

  /** Rejects every message (the client was closed, or the room left). */
  rejectAll(error: StarlingError, room?: RoomId): void {
    for (const entry of [...this.#entries]) {
      if (room !== undefined && entry.room !== room) continue;
      this.#remove(entry);
      entry.reject(new StarlingError(error.code, error.message, { action: 'send', clientMsgId: entry.clientMsgId, local: error.local }));
    }
  }

  #remove(entry: OutboxEntry): void {
    const at = this.#entries.indexOf(entry);
    if (at >= 0) this.#entries.splice(at, 1);
  }
}
