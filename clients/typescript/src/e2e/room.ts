import { Emitter, type Listener } from '../events.js';
import type { RoomId, StoredMessage } from '../generated/protocol.js';
import type { SendReceipt } from '../outbox.js';
import type { HistoryPage } from '../types.js';
import { newClientMsgId } from '../validate.js';
import { fromBase64, sameBytes, toBase64 } from './bytes.js';
import type { E2eDevice } from './device.js';
import { E2eError } from './errors.js';
import { type E2eMember, MlsGroup, type PreparedCommit, decodeMessage, decodeState, encodeKeyPackage, framing } from './group.js';
import { type KeyPackages, type VerifiedKeyPackage, checkClaimed } from './keys.js';
import { type IntentKind, type RoomRecord, type StoredIntent, type StoredPending, recordKey } from './record.js';
import { safetyNumber } from './safety.js';
import { type DeviceRef, identityOf } from './suite.js';
import type { CommitResult, E2eMessage, E2eRoomEvents, MembershipChange } from './types.js';

/** The body limit of `send`, in bytes of base64 text (protocol.md §6). */
const MAX_BODY = 16_384;
/** The limit of `send.welcome.message`, in characters of base64 text. */
const MAX_WELCOME = 65_536;
/** The most devices one Welcome may name. */
const MAX_WELCOME_TO = 50;
/**
 * The largest frame a client may send: API Gateway closes the connection (1009) on a WebSocket
 * frame over 32 KB, and browsers send each message as one frame (protocol.md §6).
 */
const MAX_FRAME = 32_768;

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

interface Op {
  intent: StoredIntent;
  conflicts: number;
  resolve?: (result: CommitResult) => void;
  reject?: (error: Error) => void;
}

interface Pending {
  op: Op;
  clientMsgId: string;
  prepared: PreparedCommit;
  welcome: StoredPending['welcome'];
  added: E2eMember[];
  removed: E2eMember[];
}

type Work =
  | { kind: 'op'; op: Op }
  | { kind: 'send'; text: string; clientMsgId: string; resolve: (r: SendReceipt) => void; reject: (e: Error) => void };

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
  readonly #host: RoomHost;
  readonly #events = new Emitter<E2eRoomEvents>();
  #group: MlsGroup | undefined;
  #processed: number;
  #pending: Pending | undefined;
  readonly #sent = new Map<string, string>();
  readonly #work: Work[] = [];
  #tail: Promise<unknown> = Promise.resolve();
  #incoming = 0;
  #dirty = false;
  /** A Commit restored from storage, to send again once the room is joined. */
  #resumable: Pending | undefined;

  /** @internal */
  constructor(room: RoomId, host: RoomHost, record: RoomRecord | undefined) {
    this.room = room;
    this.#host = host;
    this.#processed = record?.processed ?? 0;
    if (record?.state !== undefined) this.#group = MlsGroup.decode(fromBase64(record.state));
    for (const [id, text] of Object.entries(record?.sent ?? {})) this.#sent.set(id, text);
    const stored = record?.pending;
    if (stored !== undefined && this.#group !== undefined) {
      // A Commit sent before a restart: send it again (the server deduplicates it by
      // clientMsgId), and wait for it or for the Commit that beat it, as before.
      const state = decodeState(fromBase64(stored.state));
      const prepared: PreparedCommit = { commit: fromBase64(stored.commit), welcome: undefined, epoch: stored.epoch, state, consumed: [] };
      const diff = MlsGroup.diff(this.#group.members(), MlsGroup.membersOf(state));
      this.#pending = { op: { intent: stored.intent, conflicts: stored.conflicts }, clientMsgId: stored.clientMsgId, prepared, welcome: stored.welcome, ...diff };
      this.#group.holdSecrets = true;
      this.#resumable = this.#pending;
    }
  }

  /** Whether this device is a member of the room's group (it created it or joined it, and was not removed). */
  get isMember(): boolean {
    return this.#group?.active === true && !(this.#group.epoch === 0 && this.#pending !== undefined);
  }

  /** The group's epoch (`undefined` while this device has no group). */
  get epoch(): number | undefined {
    return this.#group?.epoch;
  }

  /** The last seq processed. */
  get processed(): number {
    return this.#processed;
  }

  /** Whether a Commit of this device waits to be stored. */
  get committing(): boolean {
    return this.#pending !== undefined;
  }

  /** The group's members (this device included), in leaf order; empty without a group. */
  members(): E2eMember[] {
    return this.#group?.members() ?? [];
  }

  /**
   * The safety number of a member (see {@link safetyNumber}), to compare out of band with what
   * that member's own device shows for itself. `undefined` when no such device is a member.
   */
  async safetyNumber(user: string, device: string): Promise<string | undefined> {
    const member = this.#group?.member(identityOf({ user, device }));
    return member === undefined ? undefined : safetyNumber(member.identity, member.signaturePublicKey);
  }

  /** Calls `listener` on every `event`; returns a function that removes it. */
  on<K extends keyof E2eRoomEvents>(event: K, listener: Listener<E2eRoomEvents, K>): () => void {
    return this.#events.on(event, listener);
  }

  /** Calls `listener` on the next `event` only. */
  once<K extends keyof E2eRoomEvents>(event: K, listener: Listener<E2eRoomEvents, K>): () => void {
    return this.#events.once(event, listener);
  }

  /** Removes `listener`. */
  off<K extends keyof E2eRoomEvents>(event: K, listener: Listener<E2eRoomEvents, K>): void {
    this.#events.off(event, listener);
  }

  /**
   * Makes the room's group, with this device as its first member, and commits it (epoch 0 → 1),
   * adding the devices of `users` in the same Commit. Resolves once the server stored it.
   * Rejects with `group_exists` when the room already has a group (another device's Commit was
   * stored first): ask a member to add this user.
   */
  async create(users: string[] = []): Promise<CommitResult> {
    const add = await this.#claim(users, false);
    return this.#commit('create', add, []);
  }

  /**
   * Adds every device of `users` that has a valid KeyPackage: claims them (`keys.claim`), checks
   * each (credential `{user}/{device}` as claimed, ciphersuite 1, signature, lifetime) and sends
   * one Commit with the Welcome for them. Devices already in the group are skipped. Rejects with
   * `no_key_packages` when no device of any of them can be added.
   */
  async add(users: string | string[]): Promise<CommitResult> {
    const add = await this.#claim(typeof users === 'string' ? [users] : users, true);
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
    const sent = new Promise<SendReceipt>((resolve, reject) => this.#work.push({ kind: 'send', text, clientMsgId, resolve, reject }));
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
        await this.#take(message);
      } finally {
        this.#incoming -= 1;
      }
      if (this.#incoming === 0) await this.#settle();
    });
  }

  /** Whether `clientMsgId` is this room's waiting Commit. @internal */
  owns(clientMsgId: string): boolean {
    return this.#pending?.clientMsgId === clientMsgId;
  }

  /**
   * A `conflict` for this room's waiting Commit: another Commit was stored in its epoch. That
   * Commit arrives as a message (or did already), and processing it drops this one and makes it
   * again. A new group, though, lost to a group made before: that Commit may have been stored
   * long ago, so the group is dropped now. @internal
   */
  conflicted(clientMsgId: string, epoch: number | undefined): void {
    const pending = this.#pending;
    if (pending?.clientMsgId !== clientMsgId) return;
    this.#events.emit('conflict', { room: this.room, clientMsgId, epoch: pending.prepared.epoch });
    if (pending.op.intent.kind !== 'create' || epoch === 0) return;
    void this.#run(async () => {
      if (this.#pending !== pending) return;
      this.#dropPending(new E2eError('group_exists', `${this.room} already has a group (epoch ${String(epoch)}); ask a member to add you`, { room: this.room }));
      this.#group = undefined;
      this.#dirty = true;
      await this.#settle();
    });
  }

  /** Joins from a Welcome of the Commit at `seq`: the room is read from after it. @internal */
  adopt(group: MlsGroup, seq: number): Promise<boolean> {
    return this.#run(async () => {
      const current = this.#group;
      if (current?.active === true && sameBytes(current.groupId, group.groupId) && current.epoch >= group.epoch) return false;
      this.#dropPending(new E2eError('not_member', 'this device joined the room again from a Welcome', { room: this.room }));
      this.#group = group;
      this.#processed = seq;
      this.#sent.clear();
      this.#dirty = true;
      await this.#catchUp();
      await this.#settle();
      return true;
    });
  }

  /** Once joined on the client after a restart: sends the waiting Commit again (once). @internal */
  resume(): void {
    const pending = this.#resumable;
    this.#resumable = undefined;
    if (pending !== undefined && pending === this.#pending) this.#transmit(pending, toBase64(pending.prepared.commit));
  }

  // --- commits ----------------------------------------------------------------------------

  async #claim(users: string[], required: boolean): Promise<VerifiedKeyPackage[]> {
    const found: VerifiedKeyPackage[] = [];
    const rejected: E2eError[] = [];
    for (const user of users) {
      const claimed = await this.#host.keys.claim(user);
      found.push(...claimed.valid);
      for (const r of claimed.rejected) {
        rejected.push(r.error);
        this.#events.emit('error', r.error);
      }
    }
    if (required && found.length === 0) {
      const why = rejected.length > 0 ? `: ${rejected.map((e) => e.message).join('; ')}` : '';
      throw new E2eError('no_key_packages', `no device of ${users.join(', ')} has a usable KeyPackage${why}`, { room: this.room });
    }
    return found;
  }

  /** Queues a Commit: `add` the devices of these packages, `remove` every device of these users. */
  #commit(kind: IntentKind, add: VerifiedKeyPackage[], remove: string[]): Promise<CommitResult> {
    const intent: StoredIntent = {
      kind,
      add: add.map((k) => ({ user: k.user, device: k.device, keyPackage: toBase64(encodeKeyPackage(k.keyPackage)), lastResort: k.lastResort })),
      remove,
    };
    const done = new Promise<CommitResult>((resolve, reject) => this.#work.push({ kind: 'op', op: { intent, conflicts: 0, resolve, reject } }));
    this.#kick();
    return done;
  }

  /** Runs the queued work, while no Commit of this device waits: sends go out, the next Commit is made. */
  async #pump(): Promise<void> {
    while (this.#pending === undefined) {
      const item = this.#work.shift();
      if (item === undefined) return;
      if (item.kind === 'send') await this.#sendNow(item);
      else await this.#startCommit(item.op);
    }
  }

  async #startCommit(op: Op): Promise<void> {
    const fail = (error: Error): void => op.reject?.(error);
    try {
      const { intent } = op;
      if (intent.kind === 'create' && this.#group?.active === true) return fail(new E2eError('group_exists', `this device already has the group of ${this.room}`, { room: this.room }));
      // A new group stays this device's only once its first Commit is out; what the room held
      // before it is no message of the group.
      const group = intent.kind === 'create' ? await MlsGroup.create(this.#host.device) : this.#group;
      if (intent.kind === 'create') this.#processed = Math.max(this.#processed, this.#host.lastSeq(this.room) ?? 0);
      if (group === undefined || !group.active) return fail(new E2eError('not_member', `this device is not a member of ${this.room}'s group`, { room: this.room }));
      const members = group.members();
      const have = new Set(members.map((m) => m.identity));
      const add = intent.add.filter((a) => !have.has(identityOf(a)));
      const me = this.#host.device.identity;
      const removeLeaves = members.filter((m) => intent.remove.includes(m.user) && m.identity !== me).map((m) => m.leaf);
      if (intent.kind !== 'create' && intent.kind !== 'update' && add.length === 0 && removeLeaves.length === 0) {
        op.resolve?.({ room: this.room, seq: undefined, epoch: group.epoch, added: [], removed: [], conflicts: op.conflicts });
        return;
      }
      const keyPackages = await Promise.all(add.map(async (a) => (await checkClaimed(a.user, { device: a.device, keyPackage: a.keyPackage })).keyPackage));
      const prepared = await group.prepareCommit(keyPackages, removeLeaves);
      const body = toBase64(prepared.commit);
      if (body.length > MAX_BODY) return fail(new E2eError('too_large', `the Commit is ${body.length} characters of base64; a body takes at most ${MAX_BODY}`, { room: this.room }));
      let welcome: StoredPending['welcome'];
      if (prepared.welcome !== undefined) {
        welcome = { message: toBase64(prepared.welcome), to: add.map((a): DeviceRef => ({ user: a.user, device: a.device })) };
        if (welcome.message.length > MAX_WELCOME || welcome.to.length > MAX_WELCOME_TO) {
          return fail(new E2eError('too_large', `the Welcome is ${welcome.message.length} characters of base64 for ${welcome.to.length} devices; the server takes ${MAX_WELCOME} for ${MAX_WELCOME_TO}`, { room: this.room }));
        }
      }
      const clientMsgId = newClientMsgId();
      const frame = JSON.stringify({ action: 'send', room: this.room, body, clientMsgId, welcome }).length;
      if (frame > MAX_FRAME) {
        return fail(new E2eError('too_large', `the Commit and its Welcome make a ${frame}-byte frame; a client frame takes at most ${MAX_FRAME} bytes (API Gateway)`, { room: this.room }));
      }
      const pending: Pending = { op, clientMsgId, prepared, welcome, ...MlsGroup.diff(members, MlsGroup.membersOf(prepared.state)) };
      this.#group = group;
      this.#pending = pending;
      group.holdSecrets = true;
      // Kept before it goes out: after a restart it is sent again and applied when stored.
      await this.#persist();
      this.#transmit(pending, body);
    } catch (error) {
      fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #transmit(pending: Pending, body: string): void {
    this.#host.send(this.room, body, pending.clientMsgId, pending.welcome).catch((error: unknown) => {
      void this.#run(async () => {
        if (this.#pending !== pending) return;
        this.#dropPending(error instanceof Error ? error : new Error(String(error)));
        if (this.#group?.epoch === 0) this.#group = undefined;
        this.#dirty = true;
        await this.#settle();
      });
    });
  }

  /** Forgets the waiting Commit (refused, or the room was joined anew) and rejects its operation. */
  #dropPending(error: Error): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    if (this.#group !== undefined) this.#group.holdSecrets = false;
    pending.op.reject?.(error);
  }

  async #sendNow(item: Extract<Work, { kind: 'send' }>): Promise<void> {
    const group = this.#group;
    if (group === undefined || !group.active) {
      item.reject(new E2eError('not_member', `this device is not a member of ${this.room}'s group`, { room: this.room }));
      return;
    }
    try {
      const body = toBase64(await group.encrypt(item.text));
      if (body.length > MAX_BODY) throw new E2eError('too_large', `the message is ${body.length} characters of base64 once encrypted; a body takes at most ${MAX_BODY}`, { room: this.room });
      this.#sent.set(item.clientMsgId, item.text);
      // The sender ratchet moved: keep it before the ciphertext leaves, so a restart never
      // encrypts twice with the same key and nonce.
      await this.#persist();
      this.#host.send(this.room, body, item.clientMsgId, undefined).then(item.resolve, (error: unknown) => {
        this.#sent.delete(item.clientMsgId);
        item.reject(error instanceof Error ? error : new Error(String(error)));
      });
    } catch (error) {
      this.#dirty = true;
      item.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  // --- incoming ---------------------------------------------------------------------------

  /** One message, in seq order; a gap before it is filled from `history` first. */
  async #take(message: StoredMessage): Promise<void> {
    if (this.#group === undefined || message.seq <= this.#processed) return;
    if (message.seq > this.#processed + 1) await this.#fill(message.seq);
    if (message.seq <= this.#processed) return;
    await this.#process(message);
  }

  /** Fetches and processes the seqs between what was processed and `before` (exclusive). */
  async #fill(before: number): Promise<void> {
    const from = this.#processed;
    const got = new Map<number, StoredMessage>();
    let cursor = before;
    try {
      while (cursor > from + 1) {
        const page = await this.#host.history(this.room, cursor, 100);
        for (const m of page.messages) if (m.seq > from && m.seq < before) got.set(m.seq, m);
        const first = page.messages[0];
        if (!page.hasMore || first === undefined || first.seq <= from + 1) break;
        cursor = first.seq;
      }
    } catch (error) {
      this.#events.emit('error', new E2eError('gap', `could not fetch seqs ${from + 1}–${before - 1} of ${this.room}: ${String(error)}`, { room: this.room, cause: error }));
    }
    for (const m of [...got.values()].sort((a, b) => a.seq - b.seq)) {
      if (m.seq !== this.#processed + 1) this.#gap(m.seq);
      await this.#process(m);
    }
    if (this.#processed < before - 1) this.#gap(before);
  }

  #gap(next: number): void {
    this.#events.emit('error', new E2eError('gap', `seqs ${this.#processed + 1}–${next - 1} of ${this.room} are missing (past retention?); the group may be out of step`, { room: this.room, seq: this.#processed + 1 }));
    this.#processed = next - 1;
  }

  /** After joining from a Welcome: what the client already handed over past it. */
  async #catchUp(): Promise<void> {
    const last = this.#host.lastSeq(this.room) ?? 0;
    if (last > this.#processed) await this.#fill(last + 1);
  }

  async #process(message: StoredMessage): Promise<void> {
    this.#processed = message.seq;
    this.#dirty = true;
    const group = this.#group;
    if (group === undefined) return;
    const me = this.#host.device.user;
    const pending = this.#pending;
    if (message.from === me && message.clientMsgId !== undefined) {
      if (pending !== undefined && message.clientMsgId === pending.clientMsgId) return this.#applied(group, pending, message);
      const text = this.#sent.get(message.clientMsgId);
      if (text !== undefined) {
        this.#sent.delete(message.clientMsgId);
        return this.#emitMessage(message, this.#host.device.id, text, group.epoch, true);
      }
    }
    let decoded;
    try {
      decoded = decodeMessage(fromBase64(message.body));
    } catch (error) {
      return this.#undecryptable(message, error);
    }
    const frame = framing(decoded);
    if (frame === undefined) return this.#undecryptable(message, 'not a room message');
    if (!sameBytes(frame.groupId, group.groupId)) {
      if (frame.contentType === 'commit' && pending?.op.intent.kind === 'create' && group.epoch === 0) {
        // Another device's group was stored first: this device's is dropped.
        this.#pending = undefined;
        this.#group = undefined;
        pending.op.reject?.(new E2eError('group_exists', `${message.from} made ${this.room}'s group first; ask a member to add you`, { room: this.room, seq: message.seq }));
        return;
      }
      return this.#undecryptable(message, 'a message of another group');
    }
    if (!group.active) return;
    let out;
    try {
      out = await group.process(decoded);
    } catch (error) {
      return this.#undecryptable(message, error);
    }
    if (out.kind === 'application') {
      if (out.sender.user !== message.from) {
        this.#events.emit('error', new E2eError('sender_mismatch', `seq ${message.seq} of ${this.room} was sent by ${message.from} but signed by ${out.sender.identity}`, { room: this.room, seq: message.seq }));
        return;
      }
      return this.#emitMessage(message, out.sender.device, out.text, out.epoch, false);
    }
    if (out.kind !== 'commit') return;
    if (out.committer !== undefined && out.committer.user !== message.from) {
      this.#events.emit('error', new E2eError('sender_mismatch', `the Commit at seq ${message.seq} of ${this.room} was sent by ${message.from} but signed by ${out.committer.identity}`, { room: this.room, seq: message.seq }));
    }
    if (pending !== undefined) {
      // Another member's Commit took the epoch this device's Commit was made in: make it again
      // after this one (RFC 9420 §14), once the messages waiting now are processed.
      this.#pending = undefined;
      group.holdSecrets = false;
      pending.op.conflicts += 1;
      this.#work.unshift({ kind: 'op', op: pending.op });
    }
    const change: MembershipChange = { room: this.room, seq: message.seq, epoch: out.epoch, from: message.from, by: out.committer, added: out.added, removed: out.removed };
    this.#events.emit('members', change);
    if (out.removedSelf) {
      this.#events.emit('removed', change);
      this.#rejectWork(new E2eError('not_member', `this device was removed from ${this.room}'s group`, { room: this.room, seq: message.seq }));
    }
  }

  #applied(group: MlsGroup, pending: Pending, message: StoredMessage): void {
    group.adopt(pending.prepared);
    group.holdSecrets = false;
    this.#pending = undefined;
    const change: MembershipChange = {
      room: this.room,
      seq: message.seq,
      epoch: group.epoch,
      from: message.from,
      by: group.member(this.#host.device.identity),
      added: pending.added,
      removed: pending.removed,
    };
    this.#events.emit('members', change);
    const result: CommitResult = { room: this.room, seq: message.seq, epoch: group.epoch, added: pending.added, removed: pending.removed, conflicts: pending.op.conflicts };
    if (pending.welcome !== undefined) result.welcome = pending.welcome.message;
    pending.op.resolve?.(result);
  }

  #emitMessage(message: StoredMessage, device: string, text: string, epoch: number, own: boolean): void {
    const out: E2eMessage = { room: this.room, seq: message.seq, id: message.id, from: message.from, device, text, sentAt: message.sentAt, epoch, own };
    if (message.clientMsgId !== undefined) out.clientMsgId = message.clientMsgId;
    this.#events.emit('message', out);
  }

  #undecryptable(message: StoredMessage, why: unknown): void {
    const reason = why instanceof Error ? why.message : String(why);
    this.#events.emit('error', new E2eError('undecryptable', `seq ${message.seq} of ${this.room} from ${message.from}: ${reason}`, { room: this.room, seq: message.seq, cause: why }));
  }

  #rejectWork(error: E2eError): void {
    for (const item of this.#work.splice(0)) {
      if (item.kind === 'send') item.reject(error);
      else item.op.reject?.(error);
    }
  }

  // --- plumbing ---------------------------------------------------------------------------

  /** Keeps the state if it changed, then runs the queued work. */
  async #settle(): Promise<void> {
    if (this.#dirty) await this.#persist();
    await this.#pump();
  }

  /** Runs the queued work now, unless messages wait to be processed (they may change the epoch). */
  #kick(): void {
    void this.#run(async () => {
      if (this.#incoming === 0) await this.#settle();
    });
  }

  async #persist(): Promise<void> {
    this.#dirty = false;
    const record: RoomRecord = { v: 1, processed: this.#processed, sent: Object.fromEntries(this.#sent) };
    const group = this.#group;
    if (group !== undefined) record.state = toBase64(group.encode());
    const p = this.#pending;
    if (p !== undefined) {
      record.pending = { clientMsgId: p.clientMsgId, epoch: p.prepared.epoch, commit: toBase64(p.prepared.commit), state: toBase64(MlsGroup.encodeState(p.prepared.state)), intent: p.op.intent, conflicts: p.op.conflicts };
      if (p.welcome !== undefined) record.pending.welcome = p.welcome;
    }
    try {
      await this.#host.device.save(recordKey(this.room), JSON.stringify(record));
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }

  /** Runs `task` after every task before it: the room's messages and operations never interleave. */
  #run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch((error: unknown) => {
      this.#events.emit('error', error instanceof E2eError ? error : new E2eError('undecryptable', `${this.room}: ${String(error)}`, { room: this.room, cause: error }));
    });
    return result;
  }
}

