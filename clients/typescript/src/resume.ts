import { StarlingError } from './errors.js';
import type { ErrorFrame, RoomId, StoredMessage, SyncRequest, SyncedFrame } from './generated/protocol.js';
import { type Gap, Inbox, type InboxStep } from './inbox.js';
import type { Session } from './session.js';
import type { SeqStore } from './store.js';

/** What {@link Resume} needs from the client. */
export interface ResumeHost {
  /** The connection in use, if any. */
  active(): Session | undefined;
  /** Hands messages to the application. */
  deliver(message: StoredMessage): void;
  /** Reports seqs that will not be delivered. */
  gap(gap: Gap): void;
  /** Reports an error not tied to a promise. */
  error(error: StarlingError): void;
  /** The newest `limit` messages of `room` (through the client's `history`). */
  history(room: RoomId, limit: number): Promise<readonly StoredMessage[]>;
  /** How long to wait before retrying a failed `sync`, when the server gave no `retryAfterMs`. */
  retryDelayMs(): number;
}

/**
 * Resuming rooms across connections (protocol.md §7): runs the {@link Inbox} over the frames of
 * whichever connection is in use, sends its `sync`s, keeps messages that arrive before a room's
 * start seq is known, writes each room's delivered seq to the store, and falls back to `history`
 * when a room lost messages to retention.
 */
export class Resume {
  readonly #inbox = new Inbox();
  readonly #early = new Map<RoomId, StoredMessage[]>();
  readonly #store: SeqStore;
  readonly #gapHistoryLimit: number;
  readonly #host: ResumeHost;

  constructor(store: SeqStore, gapHistoryLimit: number, host: ResumeHost) {
    this.#store = store;
    this.#gapHistoryLimit = gapHistoryLimit;
    this.#host = host;
  }

  /** Whether the room's start seq is known (it was joined once). */
  has(room: RoomId): boolean {
    return this.#inbox.has(room);
  }

  /** The room's last seq handed to the application. */
  delivered(room: RoomId): number | undefined {
    return this.#inbox.delivered(room);
  }

  /** The room's first `joined`: messages after `seq` are the application's, starting with those that came early. */
  start(room: RoomId, seq: number): void {
    if (this.#inbox.has(room)) return;
    this.#inbox.track(room, seq);
    const early = this.#early.get(room) ?? [];
    this.#early.delete(room);
    this.#deliver(this.#inbox.offer(room, early));
  }

  /** The room was left: its state is dropped. */
  forget(room: RoomId): void {
    this.#inbox.untrack(room);
    this.#early.delete(room);
  }

  /** Messages of `room`, live or from a `syncPage`, on any connection. `wanted`: the app joined the room. */
  offer(room: RoomId, messages: readonly StoredMessage[], wanted: boolean): void {
    if (this.#inbox.has(room)) {
      this.#deliver(this.#inbox.offer(room, messages));
      this.sendNext();
    } else if (wanted) {
      // Live before this room's first `joined`: kept until its start seq is known.
      this.#early.set(room, [...(this.#early.get(room) ?? []), ...messages]);
    }
  }

  /** A connection took over, or joined `rooms` anew: sync them from their delivered seqs. */
  begin(session: Session, rooms: Iterable<RoomId>): void {
    this.#send(session, this.#inbox.beginSync(rooms));
  }

  /** A `synced` on the connection in use. */
  onSynced(session: Session, frame: SyncedFrame): void {
    session.syncDone(frame.room);
    this.#apply(this.#inbox.onSynced(frame));
    this.sendNext();
  }

  /** An `error` answering a `sync`: one room refused, or the whole request failed (retried later). */
  onSyncError(session: Session, frame: ErrorFrame, error: StarlingError): void {
    const failed = session.syncFailed(frame.message);
    this.#host.error(error);
    if (failed.refusedRoom !== undefined) {
      this.#inbox.syncRefused(failed.refusedRoom);
      return;
    }
    this.#inbox.syncFailed(failed.rooms);
    setTimeout(() => this.sendNext(), error.retryAfterMs ?? this.#host.retryDelayMs());
  }

  /** Sends the `sync`s the procedure wants now, on the connection in use. */
  sendNext(): void {
    const session = this.#host.active();
    if (session !== undefined) this.#send(session, this.#inbox.nextSyncs());
  }

  #send(session: Session, requests: SyncRequest[]): void {
    for (const request of requests) {
      const rooms = Object.keys(request.rooms);
      if (session === this.#host.active() && session.link.send(request)) session.syncSent(rooms);
      else this.#inbox.syncFailed(rooms);
    }
  }

  #apply(step: InboxStep): void {
    this.#deliver(step.deliver);
    if (step.gap !== undefined) this.#host.gap(step.gap);
    if (step.needHistory !== undefined) void this.#resetFromHistory(step.needHistory);
  }

  async #resetFromHistory(room: RoomId): Promise<void> {
    let page: readonly StoredMessage[] | undefined;
    try {
      page = await this.#host.history(room, this.#gapHistoryLimit);
    } catch {
      page = undefined;
    }
    const step = this.#inbox.resetFromHistory(room, page);
    if (step.gap !== undefined) this.#host.gap(step.gap);
    this.#deliver(step.deliver);
    this.sendNext();
  }

  #deliver(messages: readonly StoredMessage[]): void {
    const rooms = new Set<RoomId>();
    for (const m of messages) {
      rooms.add(m.room);
      this.#host.deliver(m);
    }
    for (const room of rooms) {
      const seq = this.#inbox.delivered(room);
      if (seq === undefined) continue;
      Promise.resolve(this.#store.set(room, seq)).catch((e: unknown) => this.#host.error(new StarlingError('internal', `the seq store failed: ${String(e)}`, { local: true })));
    }
  }
}
