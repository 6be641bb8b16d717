import { LIMITS, type RoomId, type StoredMessage, type SyncRequest, type SyncedFrame } from './generated/protocol.js';
import { SeqTracker } from './room.js';

/** Seqs of a room the application will not get from the SDK: past retention, or skipped. */
export interface Gap {
  /** The room. */
  room: RoomId;
  /** The first seq not handed over. */
  fromSeq: number;
  /** The last seq not handed over. */
  toSeq: number;
}

/** What one frame meant to the {@link Inbox}. */
export interface InboxStep {
  /** Messages to hand over now, in seq order per room, each seq once. */
  deliver: StoredMessage[];
  /** Seqs that will never be handed over. */
  gap?: Gap;
  /** The room lost messages to retention: fetch its newest `history` page and pass it to {@link Inbox.resetFromHistory}. */
  needHistory?: RoomId;
}

interface RoomState {
  tracker: SeqTracker;
  /** A `sync` of this room is out and its `synced` has not come. */
  syncing: boolean;
  /** The room needs a `sync` once none is out. */
  wanted: boolean;
  /** Set after `synced` with `recovered:false`: the `lastSeq` to settle on while `history` is out. */
  resetting: number | undefined;
}

/**
 * The sync procedure of protocol.md §7 for all of a client's rooms: feed it every message
 * (live or synced) and every `synced`, and send the `sync` requests it asks for. It keeps no
 * socket and no timer, so it is tested by feeding it frames.
 */
export class Inbox {
  readonly #rooms = new Map<RoomId, RoomState>();

  /** Tracks `room`, of which the application has every seq up to `delivered`; a tracked room keeps its state. */
  track(room: RoomId, delivered: number): void {
    if (!this.#rooms.has(room)) {
      this.#rooms.set(room, { tracker: new SeqTracker(delivered), syncing: false, wanted: false, resetting: undefined });
    }
  }

  /** Stops tracking `room` (after `leave`). */
  untrack(room: RoomId): void {
    this.#rooms.delete(room);
  }

  /** Whether `room` is tracked. */
  has(room: RoomId): boolean {
    return this.#rooms.has(room);
  }

  /** The room's delivered seq, when tracked. */
  delivered(room: RoomId): number | undefined {
    return this.#rooms.get(room)?.tracker.delivered;
  }

  /** Whether any room waits for a `synced` or a `history` reset. */
  get busy(): boolean {
    for (const r of this.#rooms.values()) if (r.syncing || r.resetting !== undefined) return true;
    return false;
  }

  /**
   * After a (re)connect and the `join`s: `sync` every tracked room (of `rooms`, when given)
   * from its delivered seq. Syncs sent on an earlier connection are forgotten: their frames
   * are lost with it.
   */
  beginSync(rooms?: Iterable<RoomId>): SyncRequest[] {
    const only = rooms === undefined ? undefined : new Set(rooms);
    for (const [name, r] of this.#rooms) {
      if (only !== undefined && !only.has(name)) continue;
      r.syncing = false;
      r.resetting = undefined;
      r.wanted = true;
    }
    return this.nextSyncs();
  }

  /** The `sync` requests (at most 50 rooms each) of the rooms that want one and have none out. */
  nextSyncs(): SyncRequest[] {
    const requests: SyncRequest[] = [];
    let rooms: SyncRequest['rooms'] = {};
    let count = 0;
    for (const [name, r] of this.#rooms) {
      if (!r.wanted || r.syncing || r.resetting !== undefined) continue;
      r.wanted = false;
      r.syncing = true;
      rooms[name] = r.tracker.delivered;
      count += 1;
      if (count === LIMITS.maxSyncRooms) {
        requests.push({ action: 'sync', rooms, pages: true });
        rooms = {};
        count = 0;
      }
    }
    if (count > 0) requests.push({ action: 'sync', rooms, pages: true });
    return requests;
  }

  /** Messages of `room`, live or from a `syncPage`; returns those to hand over now. */
  offer(room: RoomId, messages: readonly StoredMessage[]): StoredMessage[] {
    const r = this.#rooms.get(room);
    if (r === undefined) return [];
    const out: StoredMessage[] = [];
    for (const m of messages) if (m.room === room) out.push(...r.tracker.offer(m));
    // A live message beyond a gap, with no sync out to fill it: protocol.md §7 step 6.
    if (r.tracker.hasGap && !r.syncing && r.resetting === undefined) r.wanted = true;
    return out;
  }

  /** A `synced` frame: settles the room up to its `lastSeq` (§7 steps 4 and 5). */
  onSynced(frame: SyncedFrame): InboxStep {
    const r = this.#rooms.get(frame.room);
    if (r === undefined || !r.syncing) return { deliver: [] };
    r.syncing = false;
    if (!frame.recovered) {
      // Messages right after `delivered` are past retention: instead of replaying whatever
      // backlog is left from an old cursor, start again from the room's newest history page.
      r.resetting = frame.lastSeq;
      return { deliver: [], needHistory: frame.room };
    }
    const before = r.tracker.delivered;
    const deliver = r.tracker.settle(frame.lastSeq);
    r.wanted ||= frame.hasMore === true || r.tracker.hasGap;
    const step: InboxStep = { deliver };
    const gap = firstHole(frame.room, before, deliver) ?? trailingHole(frame.room, before, r.tracker.delivered, deliver);
    if (gap !== undefined) step.gap = gap;
    return step;
  }

  /**
   * The newest `history` page of a room whose sync answered `recovered:false`: hands over the
   * page (and whatever waits after it) and skips the seqs before it, which are returned as the
   * {@link Gap}; the application can page back through the retained ones with `history`.
   * `page` undefined means the history request failed: the room settles as `synced` said.
   */
  resetFromHistory(room: RoomId, page: readonly StoredMessage[] | undefined): InboxStep {
    const r = this.#rooms.get(room);
    if (r === undefined || r.resetting === undefined) return { deliver: [] };
    const lastSeq = r.resetting;
    r.resetting = undefined;
    const before = r.tracker.delivered;
    const first = page?.[0];
    const deliver: StoredMessage[] = [];
    if (first === undefined) {
      deliver.push(...r.tracker.settle(lastSeq));
    } else {
      r.tracker.skipTo(first.seq - 1);
      for (const m of page ?? []) deliver.push(...r.tracker.offer(m));
    }
    r.wanted ||= r.tracker.hasGap;
    const step: InboxStep = { deliver };
    const gap = firstHole(room, before, deliver) ?? trailingHole(room, before, r.tracker.delivered, deliver);
    if (gap !== undefined) step.gap = gap;
    return step;
  }

  /** A room's sync was refused (an `error` naming it): it is not retried. */
  syncRefused(room: RoomId): void {
    const r = this.#rooms.get(room);
    if (r !== undefined) r.syncing = false;
  }

  /** A whole `sync` request failed (`rate_limited`, `internal`, a timeout): its rooms want another. */
  syncFailed(rooms: Iterable<RoomId>): void {
    for (const name of rooms) {
      const r = this.#rooms.get(name);
      if (r !== undefined && r.syncing) {
        r.syncing = false;
        r.wanted = true;
      }
    }
  }
}

/** The seqs between `before` and the first handed-over message, if they are not adjacent. */
function firstHole(room: RoomId, before: number, deliver: readonly StoredMessage[]): Gap | undefined {
  const first = deliver[0];
  if (first === undefined || first.seq === before + 1) return undefined;
  return { room, fromSeq: before + 1, toSeq: first.seq - 1 };
}

/** When nothing was handed over but `delivered` moved anyway, the seqs it moved past. */
function trailingHole(room: RoomId, before: number, after: number, deliver: readonly StoredMessage[]): Gap | undefined {
  if (deliver.length > 0 || after <= before) return undefined;
  return { room, fromSeq: before + 1, toSeq: after };
}
