import { StarlingError, errorFromFrame } from './errors.js';
import type { ClientRequest, ErrorFrame, ServerFrame } from './generated/protocol.js';

/** The link a request went out on closed before its reply came: the request may be sent again. */
export class LinkLostError extends Error {
  constructor() {
    super('the connection closed before the reply came');
    this.name = 'LinkLostError';
  }
}

interface Pending {
  request: ClientRequest;
  matches: (frame: ServerFrame) => boolean;
  resolve: (frame: ServerFrame) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The requests out on one link, waiting for their replies. Replies carry no request id
 * (protocol.md §7, limitation 5), so a success frame goes to the oldest request it matches, and
 * an `error` frame to the oldest request of the action it names.
 */
export class PendingRequests {
  readonly #pending: Pending[] = [];

  /** How many requests wait. */
  get size(): number {
    return this.#pending.length;
  }

  /** Waits for the reply to `request` (already sent), matched by `matches`, for at most `timeoutMs`. */
  add(request: ClientRequest, matches: (frame: ServerFrame) => boolean, timeoutMs: number): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      const entry: Pending = {
        request,
        matches,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#remove(entry);
          reject(new StarlingError('timeout', `no reply to ${request.action} within ${timeoutMs} ms`, { action: request.action }));
        }, timeoutMs),
      };
      this.#pending.push(entry);
    });
  }

  /** Settles the request `frame` answers; `false` when it answers none. */
  handle(frame: ServerFrame): boolean {
    if (frame.type === 'error') return this.#refuse(frame);
    const entry = this.#pending.find((p) => p.matches(frame));
    if (entry === undefined) return false;
    this.#remove(entry);
    entry.resolve(frame);
    return true;
  }

  /** A frame without `type` (API Gateway's integration error): the oldest request failed with `internal`. */
  failOldest(): boolean {
    const entry = this.#pending[0];
    if (entry === undefined) return false;
    this.#remove(entry);
    entry.reject(new StarlingError('internal', 'the server failed to handle the request', { action: entry.request.action }));
    return true;
  }

  /** Rejects every request with `error` (the link closed). */
  failAll(error: Error): void {
    for (const entry of this.#pending.splice(0)) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
  }

  #refuse(frame: ErrorFrame): boolean {
    const entry = this.#pending.find((p) => p.request.action === frame.action);
    if (entry === undefined) return false;
    this.#remove(entry);
    entry.reject(errorFromFrame(frame));
    return true;
  }

  #remove(entry: Pending): void {
    clearTimeout(entry.timer);
    const at = this.#pending.indexOf(entry);
    if (at >= 0) this.#pending.splice(at, 1);
  }
}
