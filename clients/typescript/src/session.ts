import type { RoomId } from './generated/protocol.js';
import { PendingRequests } from './requests.js';
import type { Link } from './transport.js';

/** What became of a `sync` refused with an `error` frame. */
export interface SyncFailure {
  /** The one room refused (the error names it), the others of its request going on. */
  refusedRoom?: RoomId;
  /** When the whole request failed: its rooms, which want another sync. */
  rooms: RoomId[];
}

/**
 * The client's state bound to one connection: its link, the requests waiting for replies on
 * it, the rooms joined on it, its `sync`s out and its timers. Everything here dies with the
 * connection; what outlives it (rooms, seqs, the outbox) is the client's.
 */
export class Session {
  readonly link: Link;
  readonly requests = new PendingRequests();
  /** Rooms this connection is subscribed to (their `joined` came on it). */
  readonly joined = new Set<RoomId>();
  /** Opened by a planned reconnect, while the previous connection still works. */
  readonly planned: boolean;
  readonly #syncs: Array<Set<RoomId>> = [];
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  #drained: (() => boolean) | undefined;

  constructor(planned: boolean, makeLink: (session: Session) => Link) {
    this.planned = planned;
    this.link = makeLink(this);
  }

  /** Runs `fn` after `ms`, replacing the timer of the same name. */
  timer(name: string, ms: number, fn: () => void): void {
    this.clearTimer(name);
    this.#timers.set(name, setTimeout(() => {
      this.#timers.delete(name);
      fn();
    }, ms));
  }

  /** Cancels the timer `name`. */
  clearTimer(name: string): void {
    clearTimeout(this.#timers.get(name));
    this.#timers.delete(name);
  }

  /** Closes the connection (reported as closed at once). */
  end(code: number, reason: string): void {
    this.link.close(code, reason);
  }

  /** The connection closed: fails its waiting requests with `error` and stops its timers. */
  closed(error: Error): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.requests.failAll(error);
  }

  /**
   * A newer connection took over: this one only finishes what it has out (`isIdle` tells when
   * nothing is), for at most `ms`, then closes.
   */
  drain(ms: number, isIdle: () => boolean): void {
    for (const name of [...this.#timers.keys()]) this.clearTimer(name);
    this.#drained = isIdle;
    this.timer('drain', ms, () => this.end(1000, 'replaced by a newer connection'));
    this.maybeDrained();
  }

  /** Closes a draining connection once nothing is out on it. */
  maybeDrained(): void {
    if (this.#drained !== undefined && this.requests.size === 0 && this.#drained()) this.end(1000, 'replaced by a newer connection');
  }

  /** Whether a `sync` sent on this connection waits for its `synced`s. */
  get syncing(): boolean {
    return this.#syncs.length > 0;
  }

  /** A `sync` of `rooms` went out on this connection. */
  syncSent(rooms: RoomId[]): void {
    this.#syncs.push(new Set(rooms));
  }

  /** The `synced` of `room` came. */
  syncDone(room: RoomId): void {
    const at = this.#syncs.findIndex((s) => s.has(room));
    if (at < 0) return;
    const set = this.#syncs[at];
    set?.delete(room);
    if (set?.size === 0) this.#syncs.splice(at, 1);
  }

  /**
   * An `error` answering a `sync`: a refused room's error starts with the room
   * (`"secret: join secret first"`); any other error failed the oldest request out.
   */
  syncFailed(message: string): SyncFailure {
    for (const set of this.#syncs) {
      for (const room of set) {
        if (message.startsWith(`${room}:`)) {
          this.syncDone(room);
          return { refusedRoom: room, rooms: [] };
        }
      }
    }
    return { rooms: [...(this.#syncs.shift() ?? [])] };
  }
}
