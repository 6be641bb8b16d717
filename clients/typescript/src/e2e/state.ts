// What one encrypted room holds between its messages and operations: the group, how far the
// room was read, the Commit of this device that waits, the queued work; and how it is kept.
import { Emitter } from '../events.js';
import type { RoomId } from '../generated/protocol.js';
import type { SendReceipt } from '../outbox.js';
import type { HistoryPage } from '../types.js';
import { fromBase64, toBase64 } from './bytes.js';
import type { E2eDevice } from './device.js';
import type { E2eError } from './errors.js';
import { type E2eMember, MlsGroup, type PreparedCommit, decodeState } from './group.js';
import type { KeyPackages } from './keys.js';
import { type RoomRecord, type StoredIntent, type StoredPending, recordKey } from './record.js';
import type { CommitResult, E2eRoomEvents } from './types.js';

/** What an {@link E2eRoom} needs from its {@link E2eClient}. @internal */
export interface RoomHost {
  readonly device: E2eDevice;
  readonly keys: KeyPackages;
  /** Queues a `send` in the client's outbox (with a `welcome` for a Commit that adds devices). */
  send(room: RoomId, body: string, clientMsgId: string, welcome: StoredPending['welcome']): Promise<SendReceipt>;
  /** One `history` page. */
  history(room: RoomId, before: number, limit: number): Promise<HistoryPage>;
  /** The room's last seq the client handed over. */
  lastSeq(room: RoomId): number | undefined;
}

/** A Commit asked for (`create`, `add`, …), made again after each `conflict` until it is stored. @internal */
export interface Op {
  intent: StoredIntent;
  conflicts: number;
  resolve?: (result: CommitResult) => void;
  reject?: (error: Error) => void;
}

/** This device's Commit, sent and waiting to be stored (or refused). @internal */
export interface Pending {
  op: Op;
  clientMsgId: string;
  prepared: PreparedCommit;
  welcome: StoredPending['welcome'];
  added: E2eMember[];
  removed: E2eMember[];
}

/** An application message queued by {@link E2eRoom.send}. @internal */
export interface SendWork {
  kind: 'send';
  text: string;
  clientMsgId: string;
  resolve: (r: SendReceipt) => void;
  reject: (e: Error) => void;
}

/** What waits for the room's Commit to be stored: Commits to make and messages to send. @internal */
export type Work = { kind: 'op'; op: Op } | SendWork;

/**
 * The state of one encrypted room, shared by {@link E2eRoom} and the functions that read its
 * messages (`incoming.ts`) and write to it (`outgoing.ts`). Only the room's task queue touches
 * it, one task at a time. @internal
 */
export class RoomState {
  readonly room: RoomId;
  readonly host: RoomHost;
  readonly events = new Emitter<E2eRoomEvents>();
  group: MlsGroup | undefined;
  /** Every seq up to this one was processed. */
  processed: number;
  pending: Pending | undefined;
  /** This device's application messages not yet seen stored: `clientMsgId` → text. */
  readonly sent = new Map<string, string>();
  readonly work: Work[] = [];
  /** The state changed since it was last kept. */
  dirty = false;
  /** A Commit restored from storage, to send again once the room is joined. */
  resumable: Pending | undefined;

  constructor(room: RoomId, host: RoomHost, record: RoomRecord | undefined) {
    this.room = room;
    this.host = host;
    this.processed = record?.processed ?? 0;
    if (record?.state !== undefined) this.group = MlsGroup.decode(fromBase64(record.state));
    for (const [id, text] of Object.entries(record?.sent ?? {})) this.sent.set(id, text);
    const stored = record?.pending;
    if (stored !== undefined && this.group !== undefined) {
      // A Commit sent before a restart: send it again (the server deduplicates it by
      // clientMsgId), and wait for it or for the Commit that beat it, as before.
      const state = decodeState(fromBase64(stored.state));
      const prepared: PreparedCommit = { commit: fromBase64(stored.commit), welcome: undefined, epoch: stored.epoch, state, consumed: [] };
      const diff = MlsGroup.diff(this.group.members(), MlsGroup.membersOf(state));
      this.pending = { op: { intent: stored.intent, conflicts: stored.conflicts }, clientMsgId: stored.clientMsgId, prepared, welcome: stored.welcome, ...diff };
      this.group.holdSecrets = true;
      this.resumable = this.pending;
    }
  }

  /** Forgets the waiting Commit (refused, or the room was joined anew) and rejects its operation. */
  dropPending(error: Error): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    if (this.group !== undefined) this.group.holdSecrets = false;
    pending.op.reject?.(error);
  }

  /** Rejects every queued message and Commit (this device left the group). */
  rejectWork(error: E2eError): void {
    for (const item of this.work.splice(0)) {
      if (item.kind === 'send') item.reject(error);
      else item.op.reject?.(error);
    }
  }

  /** Keeps the room's record in the device's storage; the state stays dirty when that fails. */
  async persist(): Promise<void> {
    this.dirty = false;
    const record = this.#record();
    try {
      await this.host.device.save(recordKey(this.room), JSON.stringify(record));
    } catch (error) {
      this.dirty = true;
      throw error;
    }
  }

  #record(): RoomRecord {
    const record: RoomRecord = { v: 1, processed: this.processed, sent: Object.fromEntries(this.sent) };
    const group = this.group;
    if (group !== undefined) record.state = toBase64(group.encode());
    const p = this.pending;
    if (p !== undefined) {
      record.pending = { clientMsgId: p.clientMsgId, epoch: p.prepared.epoch, commit: toBase64(p.prepared.commit), state: toBase64(MlsGroup.encodeState(p.prepared.state)), intent: p.op.intent, conflicts: p.op.conflicts };
      if (p.welcome !== undefined) record.pending.welcome = p.welcome;
    }
    return record;
  }
}
