// What a device keeps per encrypted room, so a restarted client goes on where it stopped.
import type { RoomId } from '../generated/protocol.js';
import type { DeviceRef } from './suite.js';

/** The kinds of Commit a room makes. @internal */
export type IntentKind = 'create' | 'add' | 'remove' | 'update';

/** What a Commit is for, kept so it can be made again after a `conflict`. @internal */
export interface StoredIntent {
  kind: IntentKind;
  /** Devices to add, with their claimed KeyPackage (base64 message). */
  add: Array<DeviceRef & { keyPackage: string; lastResort: boolean }>;
  /** Users whose devices to remove (this device excepted). */
  remove: string[];
}

/** A Commit sent and not yet stored (or refused). @internal */
export interface StoredPending {
  clientMsgId: string;
  /** The epoch it was made in. */
  epoch: number;
  /** The Commit message, base64: the `send` body. */
  commit: string;
  /** The `send`'s `welcome`, when it adds devices. */
  welcome?: { message: string; to: DeviceRef[] };
  /** The group's state once the Commit is applied. */
  state: string;
  intent: StoredIntent;
  conflicts: number;
}

/** A room as the device keeps it under `room:{room}`. @internal */
export interface RoomRecord {
  v: 1;
  /** Every seq up to this one was processed (or skipped as unreadable). */
  processed: number;
  /** The group's state (ts-mls encoding, base64); absent while the device has no group. */
  state?: string;
  pending?: StoredPending;
  /** This device's application messages not yet seen stored: `clientMsgId` → text. */
  sent: Record<string, string>;
}

/** The storage key of a room's record. @internal */
export function recordKey(room: RoomId): string {
  return `room:${room}`;
}

/** Parses a stored record; `undefined` for none. @internal */
export function parseRecord(raw: string | undefined): RoomRecord | undefined {
  if (raw === undefined) return undefined;
  const record = JSON.parse(raw) as RoomRecord;
  if (record.v !== 1) throw new Error(`unknown room record version ${String(record.v)}`);
  return record;
}
