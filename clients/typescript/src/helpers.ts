import type { RoomId, UserId } from './generated/protocol.js';
import type { StarlingClient } from './client.js';

/**
 * Sends `typing` at most once per `intervalMs` per room while the user types: call
 * {@link keystroke} on every input event. The server passes one per 2 s anyway; this spares the
 * frames (and the rate limit budget, where each costs 1).
 */
export class TypingThrottle {
  readonly #client: Pick<StarlingClient, 'typing'>;
  readonly #intervalMs: number;
  readonly #last = new Map<RoomId, number>();

  /** @param intervalMs default 2 500 (just over the server's 2 s). */
  constructor(client: Pick<StarlingClient, 'typing'>, intervalMs = 2_500) {
    this.#client = client;
    this.#intervalMs = intervalMs;
  }

  /** The user typed in `room`; returns whether a `typing` frame went out. */
  keystroke(room: RoomId, now = Date.now()): boolean {
    const last = this.#last.get(room);
    if (last !== undefined && now - last < this.#intervalMs) return false;
    if (!this.#client.typing(room)) return false;
    this.#last.set(room, now);
    return true;
  }

  /** The user sent the message (or cleared the input): the next keystroke announces again at once. */
  reset(room: RoomId): void {
    this.#last.delete(room);
  }
}

/**
 * Who is typing where, for an indicator. There is no "stopped typing" frame: a user counts as
 * typing for `timeoutMs` after their last `typing` event, or until a message from them arrives.
 */
export class TypingIndicator {
  readonly #timeoutMs: number;
  readonly #since = new Map<RoomId, Map<UserId, number>>();

  /** @param timeoutMs default 5 000. */
  constructor(timeoutMs = 5_000) {
    this.#timeoutMs = timeoutMs;
  }

  /** Feed it every `typing` event. */
  typing(room: RoomId, user: UserId, now = Date.now()): void {
    let users = this.#since.get(room);
    if (users === undefined) {
      users = new Map();
      this.#since.set(room, users);
    }
    users.set(user, now);
  }

  /** Feed it every `message` event: its sender stopped typing. */
  message(room: RoomId, from: UserId): void {
    this.#since.get(room)?.delete(from);
  }

  /** The users typing in `room` now, in the order they started. */
  typingIn(room: RoomId, now = Date.now()): UserId[] {
    const users = this.#since.get(room);
    if (users === undefined) return [];
    for (const [user, at] of users) if (now - at >= this.#timeoutMs) users.delete(user);
    return [...users.keys()];
  }
}

/**
 * Read cursors of a room's users, from `read` events and {@link StarlingClient.markRead}
 * replies, for "seen by" marks and unread counts. Cursors only move forward.
 */
export class ReadCursors {
  readonly #cursors = new Map<RoomId, Map<UserId, number>>();

  /** Feed it every `read` event. Returns whether the cursor moved. */
  update(room: RoomId, user: UserId, seq: number): boolean {
    let users = this.#cursors.get(room);
    if (users === undefined) {
      users = new Map();
      this.#cursors.set(room, users);
    }
    if ((users.get(user) ?? 0) >= seq) return false;
    users.set(user, seq);
    return true;
  }

  /** `user`'s cursor in `room` (0 when unknown). */
  cursor(room: RoomId, user: UserId): number {
    return this.#cursors.get(room)?.get(user) ?? 0;
  }

  /** The users whose cursor in `room` is at or past `seq`: who has seen that message. */
  seenBy(room: RoomId, seq: number): UserId[] {
    return [...(this.#cursors.get(room) ?? [])].filter(([, at]) => at >= seq).map(([user]) => user);
  }

  /** How many of the seqs after `user`'s cursor, up to `lastSeq`, are unread. */
  unread(room: RoomId, user: UserId, lastSeq: number): number {
    return Math.max(0, lastSeq - this.cursor(room, user));
  }
}
