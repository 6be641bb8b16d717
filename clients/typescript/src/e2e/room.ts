import type { Listener } from '../events.js';
import type { RoomId, StoredMessage } from '../generated/protocol.js';
import type { SendReceipt } from '../outbox.js';
import { newClientMsgId } from '../validate.js';
import { sameBytes, toBase64 } from './bytes.js';
import { E2eError } from './errors.js';
import type { E2eMember, MlsGroup } from './group.js';
import { catchUp, take } from './incoming.js';
import type { VerifiedKeyPackage } from './keys.js';
import { claim, intentOf, sendNow, startCommit } from './outgoing.js';
import type { IntentKind, RoomRecord } from './record.js';
import { safetyNumber } from './safety.js';
import { type Pending, type RoomHost, RoomState } from './state.js';
import { identityOf } from './suite.js';
import type { CommitResult, E2eRoomEvents } from './types.js';

/**
 * An end-to-end encrypted room (`e2e:…`): this device's view of the room's MLS group. Get one
 * with {@link E2eClient.room}. It processes the room's messages strictly in seq order (Commits
 * included, so every member walks through the same epochs), hands decrypted ones over as
 * `message` events, and makes Commits one at a time: a Commit is applied only when the server
 * has stored it, and made again in the next epoch when another member's Commit won
 * (`conflict`). Application messages sent while a Commit of this device waits go out after it.
 */
export class E2eRoom {
  /** The room id. */
  readonly room: RoomId;
  readonly #s: RoomState;
  #tail: Promise<unknown> = Promise.resolve();
  #incoming = 0;

  /** @internal */
  constructor(room: RoomId, host: RoomHost, record: RoomRecord | undefined) {
    this.room = room;
    this.#s = new RoomState(room, host, record);
  }

  /** Whether this device is a member of the room's group (it created it or joined it, and was not removed). */
  get isMember(): boolean {
    const s = this.#s;
    return s.group?.active === true && !(s.group.epoch === 0 && s.pending !== undefined);
  }

  /** The group's epoch (`undefined` while this device has no group). */
  get epoch(): number | undefined {
    return this.#s.group?.epoch;
  }

  /** The last seq processed. */
  get processed(): number {
    return this.#s.processed;
  }

  /** Whether a Commit of this device waits to be stored. */
  get committing(): boolean {
    return this.#s.pending !== undefined;
  }

  /** The group's members (this device included), in leaf order; empty without a group. */
  members(): E2eMember[] {
    return this.#s.group?.members() ?? [];
  }

  /**
   * The safety number of a member (see {@link safetyNumber}), to compare out of band with what
   * that member's own device shows for itself. `undefined` when no such device is a member.
   */
  async safetyNumber(user: string, device: string): Promise<string | undefined> {
    const member = this.#s.group?.member(identityOf({ user, device }));
    return member === undefined ? undefined : safetyNumber(member.identity, member.signaturePublicKey);
  }

  /** Calls `listener` on every `event`; returns a function that removes it. */
  on<K extends keyof E2eRoomEvents>(event: K, listener: Listener<E2eRoomEvents, K>): () => void {
    return this.#s.events.on(event, listener);
  }

  /** Calls `listener` on the next `event` only. */
  once<K extends keyof E2eRoomEvents>(event: K, listener: Listener<E2eRoomEvents, K>): () => void {
    return this.#s.events.once(event, listener);
  }

  /** Removes `listener`. */
  off<K extends keyof E2eRoomEvents>(event: K, listener: Listener<E2eRoomEvents, K>): void {
    this.#s.events.off(event, listener);
  }

  /**
   * Makes the room's group, with this device as its first member, and commits it (epoch 0 → 1),
   * adding the devices of `users` in the same Commit. Resolves once the server stored it.
   * Rejects with `group_exists` when the room already has a group (another device's Commit was
   * stored first): ask a member to add this user.
   */
  async create(users: string[] = []): Promise<CommitResult> {
    const add = await claim(this.#s, users, false);
    return this.#commit('create', add, []);
  }

  /**
   * Adds every device of `users` that has a valid KeyPackage: claims them (`keys.claim`), checks
   * each (credential `{user}/{device}` as claimed, ciphersuite 1, signature, lifetime) and sends
   * one Commit with the Welcome for them. Devices already in the group are skipped. Rejects with
   * `no_key_packages` when no device of any of them can be added.
   */
  async add(users: string | string[]): Promise<CommitResult> {
    const add = await claim(this.#s, typeof users === 'string' ? [users] : users, true);
    return this.#commit('add', add, []);
  }

  /** Removes every device of `users` (this device excepted: a member cannot commit its own removal). */
  remove(users: string | string[]): Promise<CommitResult> {
    return this.#commit('remove', [], typeof users === 'string' ? [users] : users);
  }

  /** Commits an update of this device's own leaf and path (fresh keys for the group; also after joining with a last-resort KeyPackage). */
  update(): Promise<CommitResult> {
    return this.#commit('update', [], []);
  }

  /**
   * Encrypts `text` as an MLS application message and sends it (its base64 is the `send` body).
   * Resolves on `accepted`; the `message` event with `own: true` confirms it was stored. Rejects
   * with `not_member` without a group, and `too_large` when the ciphertext is over the body limit.
   */
  send(text: string, options: { clientMsgId?: string } = {}): Promise<SendReceipt> {
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    const sent = new Promise<SendReceipt>((resolve, reject) => this.#s.work.push({ kind: 'send', text, clientMsgId, resolve, reject }));
    this.#kick();
    return sent;
  }

  /** Resolves once every message and operation queued so far was handled. */
  async idle(): Promise<void> {
    for (;;) {
      const tail = this.#tail;
      await tail;
      if (tail === this.#tail) return;
    }
  }

  // --- from the client ------------------------------------------------------------------

  /** A message of the room, in seq order (the client's `message` events). @internal */
  offer(message: StoredMessage): void {
    this.#incoming += 1;
    void this.#run(async () => {
      try {
        await take(this.#s, message);
      } finally {
        this.#incoming -= 1;
      }
      if (this.#incoming === 0) await this.#settle();
    });
  }

  /** Whether `clientMsgId` is this room's waiting Commit. @internal */
  owns(clientMsgId: string): boolean {
    return this.#s.pending?.clientMsgId === clientMsgId;
  }

  /**
   * A `conflict` for this room's waiting Commit: another Commit was stored in its epoch. That
   * Commit arrives as a message (or did already), and processing it drops this one and makes it
   * again. A new group, though, lost to a group made before: that Commit may have been stored
   * long ago, so the group is dropped now. @internal
   */
  conflicted(clientMsgId: string, epoch: number | undefined): void {
    const s = this.#s;
    const pending = s.pending;
    if (pending?.clientMsgId !== clientMsgId) return;
    s.events.emit('conflict', { room: this.room, clientMsgId, epoch: pending.prepared.epoch });
    if (pending.op.intent.kind !== 'create' || epoch === 0) return;
    void this.#run(async () => {
      if (s.pending !== pending) return;
      s.dropPending(new E2eError('group_exists', `${this.room} already has a group (epoch ${String(epoch)}); ask a member to add you`, { room: this.room }));
      s.group = undefined;
      s.dirty = true;
      await this.#settle();
    });
  }

  /** Joins from a Welcome of the Commit at `seq`: the room is read from after it. @internal */
  adopt(group: MlsGroup, seq: number): Promise<boolean> {
    const s = this.#s;
    return this.#run(async () => {
      const current = s.group;
      if (current?.active === true && sameBytes(current.groupId, group.groupId) && current.epoch >= group.epoch) return false;
      s.dropPending(new E2eError('not_member', 'this device joined the room again from a Welcome', { room: this.room }));
      s.group = group;
      s.processed = seq;
      s.sent.clear();
      s.dirty = true;
      await catchUp(s);
      await this.#settle();
      return true;
    });
  }

  /** Once joined on the client after a restart: sends the waiting Commit again (once). @internal */
  resume(): void {
    const s = this.#s;
    const pending = s.resumable;
    s.resumable = undefined;
    if (pending !== undefined && pending === s.pending) this.#transmit(pending, toBase64(pending.prepared.commit));
  }

  // --- the room's work, one task at a time -----------------------------------------------

  /** Queues a Commit: `add` the devices of these packages, `remove` every device of these users. */
  #commit(kind: IntentKind, add: VerifiedKeyPackage[], remove: string[]): Promise<CommitResult> {
    const intent = intentOf(kind, add, remove);
    const done = new Promise<CommitResult>((resolve, reject) => this.#s.work.push({ kind: 'op', op: { intent, conflicts: 0, resolve, reject } }));
    this.#kick();
    return done;
  }

  /** Runs the queued work, while no Commit of this device waits: sends go out, the next Commit is made. */
  async #pump(): Promise<void> {
    const s = this.#s;
    while (s.pending === undefined) {
      const item = s.work.shift();
      if (item === undefined) return;
      if (item.kind === 'send') await sendNow(s, item);
      else await startCommit(s, item.op, (pending, body) => this.#transmit(pending, body));
    }
  }

  /** Sends the waiting Commit; when the server refuses it, it is dropped (and a new group with it). */
  #transmit(pending: Pending, body: string): void {
    const s = this.#s;
    s.host.send(this.room, body, pending.clientMsgId, pending.welcome).catch((error: unknown) => {
      void this.#run(async () => {
        if (s.pending !== pending) return;
        s.dropPending(error instanceof Error ? error : new Error(String(error)));
        if (s.group?.epoch === 0) s.group = undefined;
        s.dirty = true;
        await this.#settle();
      });
    });
  }

  /** Keeps the state if it changed, then runs the queued work. */
  async #settle(): Promise<void> {
    if (this.#s.dirty) await this.#s.persist();
    await this.#pump();
  }

  /** Runs the queued work now, unless messages wait to be processed (they may change the epoch). */
  #kick(): void {
    void this.#run(async () => {
      if (this.#incoming === 0) await this.#settle();
    });
  }

  /** Runs `task` after every task before it: the room's messages and operations never interleave. */
  #run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch((error: unknown) => {
      this.#s.events.emit('error', error instanceof E2eError ? error : new E2eError('undecryptable', `${this.room}: ${String(error)}`, { room: this.room, cause: error }));
    });
    return result;
  }
}
