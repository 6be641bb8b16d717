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
export { E2eClient } from './e2e/client.js';
export type { E2eClientOptions } from './e2e/client.js';
export { E2eDevice } from './e2e/device.js';
export type { E2eDeviceOptions } from './e2e/device.js';
export { E2eRoom } from './e2e/room.js';
export { E2eError } from './e2e/errors.js';
export type { E2eErrorCode } from './e2e/errors.js';
export { KeyPackages } from './e2e/keys.js';
export type { ClaimResult, KeyPackageStatus, RejectedKeyPackage, ReplenishOptions, ReplenishResult, VerifiedKeyPackage } from './e2e/keys.js';
export type { E2eMember } from './e2e/group.js';
export { MemoryDeviceStorage, LocalStorageDeviceStorage } from './e2e/storage.js';
export type { DeviceStorage } from './e2e/storage.js';
export { safetyNumber } from './e2e/safety.js';
export { CIPHERSUITE } from './e2e/suite.js';
export type { DeviceRef } from './e2e/suite.js';
export type {
  CommitResult,
  ConflictEvent,
  E2eClientEvents,
  E2eMessage,
  E2eRoomEvents,
  IncomingWelcome,
  JoinedEvent,
  MembershipChange,
} from './e2e/types.js';
export * from './generated/protocol.js';
