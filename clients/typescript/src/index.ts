/**
 * The Starling client SDK: a WebSocket connection to a Starling server that reconnects by
 * itself, resumes every room where it left off, hands each room's messages to the application
 * once and in order, and keeps an outbox of sends while offline.
 *
 * @packageDocumentation
 */
export { StarlingClient, connect } from './client.js';
export type { ClientOptions, NetworkEvents } from './options.js';
export type { BackoffOptions } from './backoff.js';
export { Backoff } from './backoff.js';
export { StarlingError } from './errors.js';
export type { ClientErrorCode, StarlingErrorCode, StarlingErrorInit } from './errors.js';
export { MemoryStore, LocalStorageStore } from './store.js';
export type { SeqStore, StorageLike } from './store.js';
export type { TokenProvider, TokenRequest } from './token.js';
export type { WebSocketConstructor, WebSocketLike, WebSocketEventMapLike } from './transport.js';
export type { SendReceipt } from './outbox.js';
export type { Gap } from './inbox.js';
export { TypingThrottle, TypingIndicator, ReadCursors } from './helpers.js';
export type { Listener } from './events.js';
export type {
  ClientEvents,
  ConnectionState,
  HistoryPage,
  JoinResult,
  Message,
  PresencePage,
  PresenceUpdate,
  ReadEvent,
  RoomStats,
  StateChange,
  TypingEvent,
} from './types.js';
export * from './generated/protocol.js';
