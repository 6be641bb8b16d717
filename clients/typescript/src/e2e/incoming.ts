// What an encrypted room does with its messages: strictly in seq order (a gap is filled from
// `history` first), this device's own ones recognised by clientMsgId, the rest decrypted or
// processed as Commits, each outcome reported as an event.
import type { MLSMessage } from 'ts-mls';
import type { StoredMessage } from '../generated/protocol.js';
import { fromBase64, sameBytes } from './bytes.js';
import { E2eError } from './errors.js';
import { type MlsGroup, type Processed, decodeMessage, framing } from './group.js';
import type { Pending, RoomState } from './state.js';
import type { CommitResult, E2eMessage, MembershipChange } from './types.js';

/** One message, in seq order; a gap before it is filled from `history` first. @internal */
export async function take(s: RoomState, message: StoredMessage): Promise<void> {
  if (s.group === undefined || message.seq <= s.processed) return;
  if (message.seq > s.processed + 1) await fill(s, message.seq);
  if (message.seq <= s.processed) return;
  await processMessage(s, message);
}

/** After joining from a Welcome: what the client already handed over past it. @internal */
export async function catchUp(s: RoomState): Promise<void> {
  const last = s.host.lastSeq(s.room) ?? 0;
  if (last > s.processed) await fill(s, last + 1);
}

/** Fetches and processes the seqs between what was processed and `before` (exclusive). */
async function fill(s: RoomState, before: number): Promise<void> {
  const from = s.processed;
  const got = new Map<number, StoredMessage>();
  let cursor = before;
  try {
    while (cursor > from + 1) {
      const page = await s.host.history(s.room, cursor, 100);
      for (const m of page.messages) if (m.seq > from && m.seq < before) got.set(m.seq, m);
      const first = page.messages[0];
      if (!page.hasMore || first === undefined || first.seq <= from + 1) break;
      cursor = first.seq;
    }
  } catch (error) {
    s.events.emit('error', new E2eError('gap', `could not fetch seqs ${from + 1}–${before - 1} of ${s.room}: ${String(error)}`, { room: s.room, cause: error }));
  }
  for (const m of [...got.values()].sort((a, b) => a.seq - b.seq)) {
    if (m.seq !== s.processed + 1) gap(s, m.seq);
    await processMessage(s, m);
  }
  if (s.processed < before - 1) gap(s, before);
}

function gap(s: RoomState, next: number): void {
  s.events.emit('error', new E2eError('gap', `seqs ${s.processed + 1}–${next - 1} of ${s.room} are missing (past retention?); the group may be out of step`, { room: s.room, seq: s.processed + 1 }));
  s.processed = next - 1;
}

async function processMessage(s: RoomState, message: StoredMessage): Promise<void> {
  s.processed = message.seq;
  s.dirty = true;
  const group = s.group;
  if (group === undefined) return;
  const pending = s.pending;
  if (ownEcho(s, group, pending, message)) return;
  const decoded = decodeFor(s, group, pending, message);
  if (decoded === undefined || !group.active) return;
  let out;
  try {
    out = await group.process(decoded);
  } catch (error) {
    return undecryptable(s, message, error);
  }
  if (out.kind === 'application') {
    if (out.sender.user !== message.from) {
      s.events.emit('error', new E2eError('sender_mismatch', `seq ${message.seq} of ${s.room} was sent by ${message.from} but signed by ${out.sender.identity}`, { room: s.room, seq: message.seq }));
      return;
    }
    return emitMessage(s, message, out.sender.device, out.text, out.epoch, false);
  }
  if (out.kind === 'commit') committed(s, group, pending, message, out);
}

/** This device's own message come back stored: its pending Commit, or a message it sent. */
function ownEcho(s: RoomState, group: MlsGroup, pending: Pending | undefined, message: StoredMessage): boolean {
  if (message.from !== s.host.device.user || message.clientMsgId === undefined) return false;
  if (pending !== undefined && message.clientMsgId === pending.clientMsgId) {
    applied(s, group, pending, message);
    return true;
  }
  const text = s.sent.get(message.clientMsgId);
  if (text === undefined) return false;
  s.sent.delete(message.clientMsgId);
  emitMessage(s, message, s.host.device.id, text, group.epoch, true);
  return true;
}

/** The MLS message of the group in `message`; `undefined` (reported, or handled) for anything else. */
function decodeFor(s: RoomState, group: MlsGroup, pending: Pending | undefined, message: StoredMessage): MLSMessage | undefined {
  let decoded;
  try {
    decoded = decodeMessage(fromBase64(message.body));
  } catch (error) {
    undecryptable(s, message, error);
    return undefined;
  }
  const frame = framing(decoded);
  if (frame === undefined) {
    undecryptable(s, message, 'not a room message');
    return undefined;
  }
  if (sameBytes(frame.groupId, group.groupId)) return decoded;
  if (frame.contentType === 'commit' && pending?.op.intent.kind === 'create' && group.epoch === 0) {
    // Another device's group was stored first: this device's is dropped.
    s.pending = undefined;
    s.group = undefined;
    pending.op.reject?.(new E2eError('group_exists', `${message.from} made ${s.room}'s group first; ask a member to add you`, { room: s.room, seq: message.seq }));
    return undefined;
  }
  undecryptable(s, message, 'a message of another group');
  return undefined;
}

/** Another member's Commit was applied: this device's waiting one is made again after it. */
function committed(s: RoomState, group: MlsGroup, pending: Pending | undefined, message: StoredMessage, out: Extract<Processed, { kind: 'commit' }>): void {
  if (out.committer !== undefined && out.committer.user !== message.from) {
    s.events.emit('error', new E2eError('sender_mismatch', `the Commit at seq ${message.seq} of ${s.room} was sent by ${message.from} but signed by ${out.committer.identity}`, { room: s.room, seq: message.seq }));
  }
  if (pending !== undefined) {
    // Another member's Commit took the epoch this device's Commit was made in: make it again
    // after this one (RFC 9420 §14), once the messages waiting now are processed.
    s.pending = undefined;
    group.holdSecrets = false;
    pending.op.conflicts += 1;
    s.work.unshift({ kind: 'op', op: pending.op });
  }
  const change: MembershipChange = { room: s.room, seq: message.seq, epoch: out.epoch, from: message.from, by: out.committer, added: out.added, removed: out.removed };
  s.events.emit('members', change);
  if (out.removedSelf) {
    s.events.emit('removed', change);
    s.rejectWork(new E2eError('not_member', `this device was removed from ${s.room}'s group`, { room: s.room, seq: message.seq }));
  }
}

/** This device's Commit was stored: the group moves to its epoch, and its operation resolves. */
function applied(s: RoomState, group: MlsGroup, pending: Pending, message: StoredMessage): void {
  group.adopt(pending.prepared);
  group.holdSecrets = false;
  s.pending = undefined;
  const change: MembershipChange = {
    room: s.room,
    seq: message.seq,
    epoch: group.epoch,
    from: message.from,
    by: group.member(s.host.device.identity),
    added: pending.added,
    removed: pending.removed,
  };
  s.events.emit('members', change);
  const result: CommitResult = { room: s.room, seq: message.seq, epoch: group.epoch, added: pending.added, removed: pending.removed, conflicts: pending.op.conflicts };
  if (pending.welcome !== undefined) result.welcome = pending.welcome.message;
  pending.op.resolve?.(result);
}

function emitMessage(s: RoomState, message: StoredMessage, device: string, text: string, epoch: number, own: boolean): void {
  const out: E2eMessage = { room: s.room, seq: message.seq, id: message.id, from: message.from, device, text, sentAt: message.sentAt, epoch, own };
  if (message.clientMsgId !== undefined) out.clientMsgId = message.clientMsgId;
  s.events.emit('message', out);
}

function undecryptable(s: RoomState, message: StoredMessage, why: unknown): void {
  const reason = why instanceof Error ? why.message : String(why);
  s.events.emit('error', new E2eError('undecryptable', `seq ${message.seq} of ${s.room} from ${message.from}: ${reason}`, { room: s.room, seq: message.seq, cause: why }));
}
