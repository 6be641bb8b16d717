import type { MemberPresence, MinuteStats, PresenceStatus, RoomId, StatsTotals, StoredMessage, UserId } from './generated/protocol.js';
import type { StarlingError } from './errors.js';
import type { Gap } from './inbox.js';

/**
 * - `connecting`: the first connection is being made;
 * - `connected`: connected, rooms joined;
 * - `reconnecting`: the connection dropped, a new one is being made (sends wait in the outbox);
 * - `disconnected`: closed by the application with `close()`; final.
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

/** A change of {@link ConnectionState}. */
export interface StateChange {
  /** The new state. */
  state: ConnectionState;
  /** The state before. */
  previous: ConnectionState;
  /** The close code of the connection that dropped, for `reconnecting`. */
  code?: number;
}

/** A message as the application gets it: once per seq, in seq order per room. */
export type Message = StoredMessage;

/** A user's presence changed (already deduplicated by `version`: older announcements are dropped). */
export interface PresenceUpdate {
  /** Whose status. */
  user: UserId;
  /** `online`, `away` or `offline`. */
  status: PresenceStatus;
  /** On `offline`: when the user's last connection closed. */
  lastSeen?: string;
  /** The user's presence version; only grows. */
  version: number;
}

/** Someone is typing. There is no "stopped" event: see {@link TypingIndicator}. */
export interface TypingEvent {
  /** Where. */
  room: RoomId;
  /** Who is typing. */
  user: UserId;
}

/** A user's read cursor in a room. */
export interface ReadEvent {
  /** The room. */
  room: RoomId;
  /** The reader. */
  user: UserId;
  /** Their stored cursor: every seq up to it is read. */
  seq: number;
}

/** The events of a {@link StarlingClient}. */
export interface ClientEvents {
  /** A message, handed over once and in seq order per room, live or recovered after a reconnect. */
  message: Message;
  /** A member's status changed. */
  presence: PresenceUpdate;
  /** Another user is typing. */
  typing: TypingEvent;
  /** A user's read cursor moved (the user's own included). */
  read: ReadEvent;
  /** The connection state changed. */
  state: StateChange;
  /**
   * Seqs of a room that will not be delivered: past retention, or skipped when a room resumed
   * from its newest history page. Page back with `history` to show what is still retained.
   */
  gap: Gap;
  /** An error not tied to a promise: a refused `typing` or `sync`, a failing token provider or store. */
  error: StarlingError;
}

/** What {@link StarlingClient.join} resolves with. */
export interface JoinResult {
  /** The room. */
  room: RoomId;
  /** The room's last seq when the join took effect. */
  lastSeq: number;
  /** The room's last seq handed to the application (messages after it come as `message` events). */
  delivered: number;
}

/** One page of {@link StarlingClient.history}. */
export interface HistoryPage {
  /** The room. */
  room: RoomId;
  /** Ascending seq. */
  messages: StoredMessage[];
  /** Older messages exist: ask again with `before` = the first seq of this page. */
  hasMore: boolean;
}

/** A room's counters, from {@link StarlingClient.stats}. */
export interface RoomStats {
  /** The room. */
  room: RoomId;
  /** The minutes of the window with counts, oldest first. */
  minutes: MinuteStats[];
  /** Over the whole window; `senders` is distinct senders, not a sum. */
  totals: StatsTotals;
  /** Older minutes were left out for size (they are in `totals`). */
  hasMore: boolean;
}

/** One page of {@link StarlingClient.presence}. */
export interface PresencePage {
  /** The room. */
  room: RoomId;
  /** Members in ascending user id, with their status and presence version. */
  members: MemberPresence[];
  /** More members follow: ask again with `cursor`. */
  hasMore: boolean;
  /** With `hasMore`: pass it as the next request's `cursor`. */
  cursor?: string;
}
