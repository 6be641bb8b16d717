import { StarlingError } from './errors.js';
import type { ClientRequest, JoinedFrame, RoomId, ServerFrame } from './generated/protocol.js';
import type { Session } from './session.js';
import type { SeqStore } from './store.js';
import type { JoinResult } from './types.js';

/** What {@link Rooms} needs from the client. */
export interface RoomsHost {
  /** The connection in use, if any. */
  active(): Session | undefined;
  /** A connection being set up, if any. */
  candidate(): Session | undefined;
  /** Sends `request` on `session` and waits for the frame `matches` accepts. */
  ask(session: Session, request: ClientRequest, matches: (f: ServerFrame) => boolean): Promise<ServerFrame>;
  /** A wait before retrying, when the server gave no `retryAfterMs`. */
  retryDelayMs(): number;
  /** The room's first `joined`: messages after `seq` are the application's. */
  start(room: RoomId, seq: number): void;
  /** The room's last seq handed to the application. */
  delivered(room: RoomId): number | undefined;
  /** The active connection is joined to `room`: sync it and send its queued messages. */
  ready(session: Session, room: RoomId): void;
  /** The server keeps refusing to join `room` with `error`: it was given up. */
  gaveUp(room: RoomId, error: StarlingError): void;
  /** Reports an error not tied to a promise. */
  error(error: StarlingError): void;
}

interface Want {
  /** Where the room starts when first joined: the app's `since`, else the store's seq, else `joined.lastSeq`. */
  start: number | undefined | Promise<number | undefined>;
  waiters: Array<{ resolve: (r: JoinResult) => void; reject: (e: StarlingError) => void }>;
  lastJoined: JoinedFrame | undefined;
}

/**
 * The rooms the application joined: joined again on every new connection before it takes over,
 * with `join` promises that resolve once their connection is the active one.
 */
export class Rooms {
  readonly #wants = new Map<RoomId, Want>();
  readonly #store: SeqStore;
  readonly #maxAttempts: number;
  readonly #host: RoomsHost;

  constructor(store: SeqStore, maxAttempts: number, host: RoomsHost) {
    this.#store = store;
    this.#maxAttempts = maxAttempts;
    this.#host = host;
  }

  /** Whether the application joined `room` (and has not left it). */
  has(room: RoomId): boolean {
    return this.#wants.has(room);
  }

  /** The rooms joined. */
  names(): RoomId[] {
    return [...this.#wants.keys()];
  }

  /** Joins `room` (from `since`, when given) and resolves once joined on the active connection. */
  join(room: RoomId, since: number | undefined): Promise<JoinResult> {
    let want = this.#wants.get(room);
    if (want === undefined) {
      // Registered at once, so a `send` right after `join()` finds the room.
      want = { start: since ?? this.#readStore(room), waiters: [], lastJoined: undefined };
      this.#wants.set(room, want);
    }
    const active = this.#host.active();
    if (active?.joined.has(room) === true && want.lastJoined !== undefined) return Promise.resolve(this.#result(want.lastJoined));
    const target = want;
    const joined = new Promise<JoinResult>((resolve, reject) => target.waiters.push({ resolve, reject }));
    // Also on a connection still being set up, whose own joins may already be done.
    for (const session of [active, this.#host.candidate()]) if (session?.link.open === true) void this.joinOn(session, room);
    return joined;
  }

  /** Forgets `room`; whoever waits for its join gets `error`. */
  remove(room: RoomId, error: StarlingError): void {
    const waiters = this.#wants.get(room)?.waiters.splice(0) ?? [];
    this.#wants.delete(room);
    for (const w of waiters) w.reject(error);
  }

  /** Rejects every waiting join (the client was closed). */
  rejectAll(error: StarlingError): void {
    for (const want of this.#wants.values()) for (const w of want.waiters.splice(0)) w.reject(error);
  }

  /** Joins every room on a new connection, rooms joined by the application meanwhile included. */
  async joinAll(session: Session): Promise<void> {
    const tried = new Set<RoomId>();
    for (;;) {
      const missing = this.names().filter((room) => !session.joined.has(room) && !tried.has(room));
      if (missing.length === 0 || session.link.closed) return;
      for (const room of missing) tried.add(room);
      await Promise.all(missing.map((room) => this.joinOn(session, room)));
    }
  }

  /** Joins `room` on `session`, retrying `rate_limited` and `internal`. */
  async joinOn(session: Session, room: RoomId): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (session.link.closed || !this.#wants.has(room)) return;
      try {
        const frame = await this.#host.ask(session, { action: 'join', room }, (f) => f.type === 'joined' && f.room === room);
        return await this.#joined(session, frame as JoinedFrame);
      } catch (error) {
        if (!(error instanceof StarlingError)) return;
        if (error.code === 'timeout') return session.end(1000, 'join timed out');
        if ((error.code === 'rate_limited' || error.code === 'internal') && attempt < this.#maxAttempts) {
          await new Promise((r) => setTimeout(r, error.retryAfterMs ?? this.#host.retryDelayMs()));
          continue;
        }
        // A join the server will keep refusing: the room is given up, and whoever waits is told.
        const waited = (this.#wants.get(room)?.waiters.length ?? 0) > 0;
        this.remove(room, error);
        this.#host.gaveUp(room, error);
        if (!waited) this.#host.error(error);
        return;
      }
    }
  }

  /** `session` became the active connection: the joins made on it resolve. */
  activated(session: Session): void {
    for (const room of session.joined) this.#resolve(room);
  }

  async #joined(session: Session, frame: JoinedFrame): Promise<void> {
    const want = this.#wants.get(frame.room);
    if (want === undefined) return;
    const start = await want.start;
    if (this.#wants.get(frame.room) !== want) return;
    want.lastJoined = frame;
    session.joined.add(frame.room);
    this.#host.start(frame.room, start ?? frame.lastSeq);
    if (session === this.#host.active()) {
      this.#resolve(frame.room);
      this.#host.ready(session, frame.room);
    }
  }

  /** The room's stored seq; a store that fails is reported, and the room starts as if it had none. */
  #readStore(room: RoomId): number | undefined | Promise<number | undefined> {
    const failed = (e: unknown): undefined => {
      this.#host.error(new StarlingError('internal', `the seq store failed: ${String(e)}`, { local: true }));
      return undefined;
    };
    try {
      const stored = this.#store.get(room);
      return stored instanceof Promise ? stored.catch(failed) : stored;
    } catch (e) {
      return failed(e);
    }
  }

  #resolve(room: RoomId): void {
    const want = this.#wants.get(room);
    if (want?.lastJoined === undefined) return;
    const result = this.#result(want.lastJoined);
    for (const w of want.waiters.splice(0)) w.resolve(result);
  }

  #result(frame: JoinedFrame): JoinResult {
    return { room: frame.room, lastSeq: frame.lastSeq, delivered: this.#host.delivered(frame.room) ?? frame.lastSeq };
  }
}
