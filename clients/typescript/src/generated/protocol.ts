// Generated from docs/asyncapi.yaml by clients/typescript/scripts/generate.mjs.
// Do not edit by hand: change the spec, then run `npm run generate`. CI fails when this file
// differs from what the spec generates.

/** The protocol version these types describe (`info.version` of the spec). */
export const PROTOCOL_VERSION = "1";

/**
 * A room id: 1–64 of `A-Z a-z 0-9 _ . : -`, case-sensitive. `dm:{a}:{b}` (a < b in byte
 * order) is a direct-message room open to users a and b only.
 *
 * Constraints: length 1–64; pattern `^[A-Za-z0-9_.:-]{1,64}$`.
 */
export type RoomId = string;

/**
 * A user id, the token's `sub`.
 *
 * Constraints: length 1–128; pattern `^[A-Za-z0-9._@:+=|-]{1,128}$`.
 */
export type UserId = string;

/**
 * A message's position in its room, from 1 with no gaps; the only ordering key.
 *
 * Constraints: minimum 1.
 */
export type Seq = number;

/**
 * The sender's idempotency key (1–64 characters), scoped to room + sender.
 *
 * Constraints: length 1–64.
 */
export type ClientMsgId = string;

/**
 * RFC 3339 UTC with milliseconds and `Z`.
 *
 * Constraints: pattern `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$`; format date-time.
 */
export type Timestamp = string;

/**
 * RFC 3339 UTC in whole seconds, written with `.000Z`.
 *
 * Constraints: pattern `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.000Z$`; format date-time.
 */
export type WholeSecondTimestamp = string;

/**
 * A server-given message id (a ULID). Opaque; its order does not follow `seq`.
 *
 * Constraints: pattern `^[0-9A-HJKMNP-TV-Z]{26}$`.
 */
export type MessageId = string;

/** A user's status. */
export type PresenceStatus = "online" | "away" | "offline";

/** Why a request was refused. Clients treat an unknown code like `internal`. */
export type ErrorCode = "bad_request" | "unknown_action" | "too_large" | "unauthorized" | "forbidden" | "not_found" | "rate_limited" | "rejected" | "conflict" | "internal";

/** A stored message, as in `history` and `syncPage` (a `message` frame without `type`). */
export interface StoredMessage {
  /** A room id. */
  room: RoomId;
  /** A message's position in its room, from 1 with no gaps. */
  seq: Seq;
  /** A server-given message id (a ULID). */
  id: MessageId;
  /** A user id, the token's `sub`. */
  from: UserId;
  /**
   * The text, exactly as sent (1 byte to 16 KiB of UTF-8).
   *
   * Constraints: length 1–16384.
   */
  body: string;
  /** RFC 3339 UTC with milliseconds and `Z`. */
  sentAt: Timestamp;
  /** The sender's idempotency key (1–64 characters), scoped to room + sender. */
  clientMsgId?: ClientMsgId;
}

/** One member of a `presence` page. */
export interface MemberPresence {
  /** A user id, the token's `sub`. */
  user: UserId;
  /** A user's status. */
  status: PresenceStatus;
  /** RFC 3339 UTC in whole seconds, written with `.000Z`. */
  lastSeen?: WholeSecondTimestamp;
  /**
   * The user's presence version this status is from.
   *
   * Constraints: minimum 0.
   */
  version: number;
}

/**
 * A UTC minute, `YYYY-MM-DDTHH:MMZ`; string order is time order.
 *
 * Constraints: pattern `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}Z$`.
 */
export type Minute = string;

/** One minute of a room's counters (docs/analytics.md). */
export interface MinuteStats {
  /** A UTC minute, `YYYY-MM-DDTHH:MMZ`. */
  minute: Minute;
  /**
   * Messages stored in the room in that minute.
   *
   * Constraints: minimum 0.
   */
  messages: number;
  /**
   * Distinct users who sent them (counted up to 200 a minute).
   *
   * Constraints: minimum 0.
   */
  senders: number;
  /**
   * Messages delivered live, each once per connection it reached.
   *
   * Constraints: minimum 0.
   */
  deliveries: number;
}

/** A `stats` window's totals, minutes left out for size included. */
export interface StatsTotals {
  /**
   * Messages stored in the window.
   *
   * Constraints: minimum 0.
   */
  messages: number;
  /**
   * Distinct senders over the whole window.
   *
   * Constraints: minimum 0.
   */
  senders: number;
  /**
   * Messages delivered live in the window.
   *
   * Constraints: minimum 0.
   */
  deliveries: number;
}

/**
 * A device of a user, named by the device itself (docs/e2e.md).
 *
 * Constraints: pattern `^[A-Za-z0-9_.-]{1,64}$`.
 */
export type DeviceId = string;

/**
 * An MLS KeyPackage message (RFC 9420 §10), serialized and in padded standard base64: 4 to 4,096 bytes that begin `00 01 00 05` (version mls10, wire format mls_key_package).
 *
 * Constraints: length 8–5464; pattern `^AAEAB[Q-Za-f][A-Za-z0-9+/]*={0,2}$`.
 */
export type KeyPackage = string;

/** One device's KeyPackage in a `keyPackages` frame. */
export interface ClaimedKeyPackage {
  /** A device of a user, named by the device itself (docs/e2e.md). */
  device: DeviceId;
  /** An MLS KeyPackage message (RFC 9420 §10), serialized and in padded standard base64. */
  keyPackage: KeyPackage;
  /** Present only when `true`; the device had no one-time package left, so this is its last-resort one. */
  lastResort?: true;
}

/**
 * An MLS Welcome message (RFC 9420 §12.4.3.1), serialized and in padded standard base64: at most 65,536 characters, beginning `00 01 00 03` (version mls10, wire format mls_welcome).
 *
 * Constraints: length 8–65536; pattern `^AAEAA[w-z0-9+/][A-Za-z0-9+/]*={0,2}$`.
 */
export type WelcomeMessage = string;

/** One device a Welcome is for. */
export interface WelcomeRecipient {
  /** A user id, the token's `sub`. */
  user: UserId;
  /** A device of a user, named by the device itself (docs/e2e.md). */
  device: DeviceId;
}

/** One Welcome waiting in a device's inbox. */
export interface PendingWelcome {
  /** A room id. */
  room: RoomId;
  /** A message's position in its room, from 1 with no gaps. */
  seq: Seq;
  /** A user id, the token's `sub`. */
  from: UserId;
  /** An MLS Welcome message (RFC 9420 §12.4.3.1), serialized and in padded standard base64. */
  welcome: WelcomeMessage;
}

/** Client request `joinRequest`: Subscribe this connection to the room; replies `joined`. */
export interface JoinRequest {
  /** The request action. */
  action: "join";
  /** A room id. */
  room: RoomId;
}

/** Client request `leaveRequest`: Unsubscribe this connection and end the user's membership; replies `left`. */
export interface LeaveRequest {
  /** The request action. */
  action: "leave";
  /** A room id. */
  room: RoomId;
}

/** Client request `sendRequest`: Publish a message; replies `accepted` (queued). */
export interface SendRequest {
  /** The request action. */
  action: "send";
  /** A room id. */
  room: RoomId;
  /**
   * 1 byte to 16 KiB (16,384 bytes) of UTF-8, measured after JSON decoding. In an `e2e:` room, the padded standard base64 of one MLS PublicMessage or PrivateMessage (docs/e2e.md).
   *
   * Constraints: length 1–16384.
   */
  body: string;
  /** The idempotency key; always set it. `null` means absent. */
  clientMsgId?: ClientMsgId | null;
  /** Only with an MLS Commit in an `e2e:` room: the Welcome for the devices the Commit adds, held until the Commit is stored and dropped if it loses its epoch (docs/e2e.md). */
  welcome?: {
    /** An MLS Welcome message (RFC 9420 §12.4.3.1), serialized and in padded standard base64. */
    message: WelcomeMessage;
    /**
     * 1–50 distinct devices.
     *
     * Constraints: at least 1 item(s).
     */
    to: WelcomeRecipient[];
  };
}

/** Client request `historyRequest`: One page of stored messages; replies `history`. */
export interface HistoryRequest {
  /** The request action. */
  action: "history";
  /** A room id. */
  room: RoomId;
  /**
   * Only messages with `seq < before`; absent or `null` means the newest.
   *
   * Constraints: minimum 1.
   */
  before?: number | null;
  /**
   * Page size, 1–100; absent or `null` means 50.
   *
   * Constraints: minimum 1; maximum 100.
   */
  limit?: number | null;
}

/** Client request `syncRequest`: Recover missed messages; replies per room with `syncPage`s then `synced`. */
export interface SyncRequest {
  /** The request action. */
  action: "sync";
  /**
   * 1–50 rooms. Each value is the last seq the client has (0: from the start) or `null`
   * (resume after the user's read cursor).
   *
   * Constraints: 1–50 entries.
   */
  rooms: {
    /** Constraints: minimum 0. */
    [key: RoomId]: number | null;
  };
  /** `true`: messages come in `syncPage` frames. New clients send `true`. */
  pages?: boolean | null;
}

/** Client request `presenceRequest`: One page of the room's members; replies `presence`. */
export interface PresenceRequest {
  /** The request action. */
  action: "presence";
  /** A room id. */
  room: RoomId;
  /**
   * The previous page's `cursor`; absent or `null` for the first page.
   *
   * Constraints: length 0–1024.
   */
  cursor?: string | null;
}

/** Client request `statusRequest`: Set the user's own status; replies `presenceChanged`. */
export interface StatusRequest {
  /** The request action. */
  action: "status";
  /** `offline` is refused: it follows from having no connection. */
  status: "online" | "away";
}

/** Client request `typingRequest`: This user is typing; no reply on success, at most one per 2 s gets through. */
export interface TypingRequest {
  /** The request action. */
  action: "typing";
  /** A room id. */
  room: RoomId;
}

/** Client request `readRequest`: Move the read cursor forward; replies `read` with the stored cursor. */
export interface ReadRequest {
  /** The request action. */
  action: "read";
  /** A room id. */
  room: RoomId;
  /** A message's position in its room, from 1 with no gaps. */
  seq: Seq;
}

/** Client request `statsRequest`: A room's counters per minute; replies `stats`. Members only. */
export interface StatsRequest {
  /** The request action. */
  action: "stats";
  /** A room id. */
  room: RoomId;
  /**
   * How many minutes back, the current one included, 1–1440; absent or `null` means 60.
   *
   * Constraints: minimum 1; maximum 1440.
   */
  minutes?: number | null;
}

/** Client request `keysPublishRequest`: Adds one-time KeyPackages to a device of the caller and/or replaces its last-resort one; replies `keys`. At least one of `keyPackages` and `lastResort`. */
export interface KeysPublishRequest {
  /** The request action. */
  action: "keys.publish";
  /** A device of a user, named by the device itself (docs/e2e.md). */
  device: DeviceId;
  /** 0–20 one-time packages; a device holds at most 100. */
  keyPackages?: KeyPackage[] | null;
  /** The device's new last-resort package. */
  lastResort?: KeyPackage | null;
}

/** Client request `keysCountRequest`: What a device of the caller holds; replies `keys`. */
export interface KeysCountRequest {
  /** The request action. */
  action: "keys.count";
  /** A device of a user, named by the device itself (docs/e2e.md). */
  device: DeviceId;
}

/** Client request `keysClaimRequest`: One KeyPackage per device of `user`, consuming one-time ones; replies `keyPackages`. */
export interface KeysClaimRequest {
  /** The request action. */
  action: "keys.claim";
  /** A user id, the token's `sub`. */
  user: UserId;
}

/** Client request `keysRemoveRequest`: Forgets a device of the caller and its KeyPackages; replies `keys` with zeros. */
export interface KeysRemoveRequest {
  /** The request action. */
  action: "keys.remove";
  /** A device of a user, named by the device itself (docs/e2e.md). */
  device: DeviceId;
}

/** Client request `welcomesRequest`: The Welcomes waiting for a device of the caller, in order of room, then seq; replies `welcomes`. */
export interface WelcomesRequest {
  /** The request action. */
  action: "welcomes";
  /** A device of a user, named by the device itself (docs/e2e.md). */
  device: DeviceId;
}

/** Client request `welcomesAckRequest`: Removes one Welcome from a device's inbox (idempotent); replies `welcomes` with the rest. */
export interface WelcomesAckRequest {
  /** The request action. */
  action: "welcomes.ack";
  /** A device of a user, named by the device itself (docs/e2e.md). */
  device: DeviceId;
  /** A room id. */
  room: RoomId;
  /**
   * The welcome's `seq`.
   *
   * Constraints: minimum 1.
   */
  seq: number;
}

/** Client request `pingRequest`: Keep-alive; replies `pong`. */
export interface PingRequest {
  /** The request action. */
  action: "ping";
}

/** Server frame `joined`: The reply to `join`. */
export interface JoinedFrame {
  /** The frame type. */
  type: "joined";
  /** A room id. */
  room: RoomId;
  /**
   * The room's last seq when the join took effect (0 for an empty room).
   *
   * Constraints: minimum 0.
   */
  lastSeq: number;
}

/** Server frame `left`: The reply to `leave`. */
export interface LeftFrame {
  /** The frame type. */
  type: "left";
  /** A room id. */
  room: RoomId;
}

/** Server frame `accepted`: The reply to `send`; the message is queued (not yet stored, no seq yet). */
export interface AcceptedFrame {
  /** The frame type. */
  type: "accepted";
  /** A room id. */
  room: RoomId;
  /** The sender's idempotency key (1–64 characters), scoped to room + sender. */
  clientMsgId?: ClientMsgId;
  /** A server-given message id (a ULID). */
  id: MessageId;
}

/** Server frame `message`: A stored message, pushed live or posted by `sync` without pages. */
export interface MessageFrame {
  /** The frame type. */
  type: "message";
  /** A room id. */
  room: RoomId;
  /** A message's position in its room, from 1 with no gaps. */
  seq: Seq;
  /** A server-given message id (a ULID). */
  id: MessageId;
  /** A user id, the token's `sub`. */
  from: UserId;
  /**
   * The text, exactly as sent.
   *
   * Constraints: length 1–16384.
   */
  body: string;
  /** RFC 3339 UTC with milliseconds and `Z`. */
  sentAt: Timestamp;
  /** The sender's idempotency key (1–64 characters), scoped to room + sender. */
  clientMsgId?: ClientMsgId;
}

/** Server frame `history`: The reply to `history`. */
export interface HistoryFrame {
  /** The frame type. */
  type: "history";
  /** A room id. */
  room: RoomId;
  /** Ascending `seq`, at most `limit` and at most 120 KiB. */
  messages: StoredMessage[];
  /** Older retained messages exist before the first one of this page. */
  hasMore: boolean;
}

/** Server frame `messages`: Live messages of one room, to a connection that opted in with `batch=1`. */
export interface MessagesFrame {
  /** The frame type. */
  type: "messages";
  /** A room id. */
  room: RoomId;
  /**
   * Ascending `seq`, as many as fit 120 KiB (at least one).
   *
   * Constraints: at least 1 item(s).
   */
  messages: StoredMessage[];
}

/** Server frame `syncPage`: Messages recovered by a `sync` with `pages:true`, for one room. */
export interface SyncPageFrame {
  /** The frame type. */
  type: "syncPage";
  /** A room id. */
  room: RoomId;
  /**
   * Ascending `seq`, as many as fit 120 KiB (at least one).
   *
   * Constraints: at least 1 item(s).
   */
  messages: StoredMessage[];
}

/** Server frame `synced`: Ends one room of a `sync`. */
export interface SyncedFrame {
  /** The frame type. */
  type: "synced";
  /** A room id. */
  room: RoomId;
  /** `false` when messages right after the given seq are past retention. */
  recovered: boolean;
  /**
   * Without `hasMore`, the room's last seq as read during this sync; with it, where to
   * sync from next. Every retained message up to it was sent before this frame.
   *
   * Constraints: minimum 0.
   */
  lastSeq: number;
  /** Present only when `true`; sync this room again from `lastSeq`. */
  hasMore?: true;
}

/** Server frame `presence`: The reply to `presence`. */
export interface PresenceFrame {
  /** The frame type. */
  type: "presence";
  /** A room id. */
  room: RoomId;
  /** At most 500 members, ascending by user id. */
  members: MemberPresence[];
  /** More members follow; ask again with `cursor`. */
  hasMore: boolean;
  /** Present only with `hasMore`; opaque. */
  cursor?: string;
}

/** Server frame `presenceChanged`: A user's status changed (keep the greatest `version` per user); the reply to `status`. */
export interface PresenceChangedFrame {
  /** The frame type. */
  type: "presenceChanged";
  /** A user id, the token's `sub`. */
  user: UserId;
  /** A user's status. */
  status: PresenceStatus;
  /** RFC 3339 UTC in whole seconds, written with `.000Z`. */
  lastSeen?: WholeSecondTimestamp;
  /**
   * The user's presence version of this change; only grows.
   *
   * Constraints: minimum 0.
   */
  version: number;
}

/** Server frame `typing`: Another user is typing in a room this connection is subscribed to. */
export interface TypingFrame {
  /** The frame type. */
  type: "typing";
  /** A room id. */
  room: RoomId;
  /** A user id, the token's `sub`. */
  user: UserId;
}

/** Server frame `read`: A user's stored read cursor in a room (never decreases). */
export interface ReadFrame {
  /** The frame type. */
  type: "read";
  /** A room id. */
  room: RoomId;
  /** A user id, the token's `sub`. */
  user: UserId;
  /** A message's position in its room, from 1 with no gaps. */
  seq: Seq;
}

/** Server frame `stats`: The reply to `stats`. */
export interface StatsFrame {
  /** The frame type. */
  type: "stats";
  /** A room id. */
  room: RoomId;
  /** The minutes of the window with counts, oldest first; the newest that fit 120 KiB. */
  minutes: MinuteStats[];
  /** A `stats` window's totals, minutes left out for size included. */
  totals: StatsTotals;
  /** Present only when `true`; older minutes with counts were left out for size. */
  hasMore?: true;
}

/** Server frame `keys`: What a device of the caller holds in the KeyPackage directory. */
export interface KeysFrame {
  /** The frame type. */
  type: "keys";
  /** A device of a user, named by the device itself (docs/e2e.md). */
  device: DeviceId;
  /**
   * One-time packages left (at most 100); each claim of the user takes one.
   *
   * Constraints: minimum 0; maximum 100.
   */
  oneTime: number;
  /** Whether the device has a last-resort package. */
  lastResort: boolean;
}

/** Server frame `keyPackages`: The reply to `keys.claim`, one package per device that has one, in ascending device order. */
export interface KeyPackagesFrame {
  /** The frame type. */
  type: "keyPackages";
  /** A user id, the token's `sub`. */
  user: UserId;
  /** One package per device of the user that has one; one-time packages handed out here are consumed. */
  keyPackages: ClaimedKeyPackage[];
}

/** Server frame `welcome`: Posted to every open connection of a user when a stored Commit adds one of the user's devices; other devices ignore it. It also waits in the device's inbox until `welcomes.ack`. */
export interface WelcomeFrame {
  /** The frame type. */
  type: "welcome";
  /** A device of a user, named by the device itself (docs/e2e.md). */
  device: DeviceId;
  /** A room id. */
  room: RoomId;
  /** A message's position in its room, from 1 with no gaps. */
  seq: Seq;
  /** A user id, the token's `sub`. */
  from: UserId;
  /** An MLS Welcome message (RFC 9420 §12.4.3.1), serialized and in padded standard base64. */
  welcome: WelcomeMessage;
}

/** Server frame `welcomes`: A device's pending Welcomes, in order of room, then seq, as many as fit 120 KiB. */
export interface WelcomesFrame {
  /** The frame type. */
  type: "welcomes";
  /** A device of a user, named by the device itself (docs/e2e.md). */
  device: DeviceId;
  /** At most 50; at least one when any is pending. */
  welcomes: PendingWelcome[];
  /** Present only when `true`; more are pending. Ack these to get the rest. */
  hasMore?: true;
}

/** Server frame `pong`: The reply to `ping`. */
export interface PongFrame {
  /** The frame type. */
  type: "pong";
}

/** Server frame `error`: A request was refused; the connection stays open and nothing was queued. */
export interface ErrorFrame {
  /** The frame type. */
  type: "error";
  /** Why a request was refused. */
  code: ErrorCode;
  /** For people and logs; never parse it. */
  message: string;
  /** The request's `action` as sent; omitted when the frame could not be read that far. */
  action?: string;
  /** The sender's idempotency key (1–64 characters), scoped to room + sender. */
  clientMsgId?: ClientMsgId;
  /**
   * For `rate_limited` only; when the same request is admitted.
   *
   * Constraints: minimum 0.
   */
  retryAfterMs?: number;
  /**
   * For `rejected` only; why moderation refused the message (`blocked_term`, `too_many_links`, `too_many_mentions`, `repeated_characters`, or the operator hook's own code).
   *
   * Constraints: pattern `^[a-z][a-z0-9_]{0,63}$`.
   */
  reason?: string;
  /**
   * For `conflict` only; the encrypted room's current MLS epoch (the number of Commits it has stored).
   *
   * Constraints: minimum 0.
   */
  epoch?: number;
}

/** Server frame `gatewayError`: API Gateway's error frame (no `type`); treat like `internal` for the outstanding request. */
export interface GatewayErrorFrame {
  /** API Gateway's text, e.g. `Internal server error`. */
  message: string;
  /** The API Gateway connection id of the caller. */
  connectionId: string;
  /** The API Gateway request id, for AWS support and logs. */
  requestId: string;
}

/** Every request a client may send (the `...Request` messages of the spec). */
export type ClientRequest =
  | JoinRequest
  | LeaveRequest
  | SendRequest
  | HistoryRequest
  | SyncRequest
  | PresenceRequest
  | StatusRequest
  | TypingRequest
  | ReadRequest
  | StatsRequest
  | KeysPublishRequest
  | KeysCountRequest
  | KeysClaimRequest
  | KeysRemoveRequest
  | WelcomesRequest
  | WelcomesAckRequest
  | PingRequest;

/** Every frame a Starling server sends, discriminated by `type`. */
export type ServerFrame =
  | JoinedFrame
  | LeftFrame
  | AcceptedFrame
  | MessageFrame
  | MessagesFrame
  | HistoryFrame
  | SyncPageFrame
  | SyncedFrame
  | PresenceFrame
  | PresenceChangedFrame
  | TypingFrame
  | ReadFrame
  | StatsFrame
  | KeysFrame
  | KeyPackagesFrame
  | WelcomeFrame
  | WelcomesFrame
  | PongFrame
  | ErrorFrame;

/** The `type` of a server frame. */
export type ServerFrameType = ServerFrame['type'];

/** The `action` of a client request. */
export type RequestAction = ClientRequest['action'];

/** Every server frame `type` of protocol v1; a frame of another type is ignored. */
export const SERVER_FRAME_TYPES: readonly ServerFrameType[] = ["joined","left","accepted","message","messages","history","syncPage","synced","presence","presenceChanged","typing","read","stats","keys","keyPackages","welcome","welcomes","pong","error"];

/** Every error code of protocol v1; clients treat any other code like `internal`. */
export const ERROR_CODES: readonly ErrorCode[] = ["bad_request","unknown_action","too_large","unauthorized","forbidden","not_found","rate_limited","rejected","conflict","internal"];

/** The limits the spec states, which the SDK checks before sending. */
export const LIMITS = {
  /** `send.body`: at most this many bytes of UTF-8 (16 KiB). */
  maxBodyLength: 16384,
  /** `clientMsgId`: at most this many characters. */
  maxClientMsgIdLength: 64,
  /** A room id: at most this many characters. */
  maxRoomIdLength: 64,
  /** A room id matches this regular expression. */
  roomIdPattern: "^[A-Za-z0-9_.:-]{1,64}$",
  /** Rooms in one `sync` request. */
  maxSyncRooms: 50,
  /** `history.limit` at most. */
  maxHistoryLimit: 100,
} as const;
