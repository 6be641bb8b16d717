// What an encrypted room sends: Commits (made in the group's current epoch, checked against the
// server's limits, kept before they leave) and application messages.
import type { RoomId } from '../generated/protocol.js';
import { newClientMsgId } from '../validate.js';
import { toBase64 } from './bytes.js';
import { E2eError } from './errors.js';
import { type E2eMember, MlsGroup, type PreparedCommit, encodeKeyPackage } from './group.js';
import { type VerifiedKeyPackage, checkClaimed } from './keys.js';
import type { IntentKind, StoredIntent, StoredPending } from './record.js';
import type { Op, Pending, RoomState, SendWork } from './state.js';
import { type DeviceRef, identityOf } from './suite.js';

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

/** The group a Commit is made in, and what it changes. */
interface Plan {
  group: MlsGroup;
  /** The members before it. */
  members: E2eMember[];
  /** Devices to add (those not in the group yet). */
  add: StoredIntent['add'];
  /** Leaves to remove. */
  removeLeaves: number[];
}

/** A Commit's `send`: its body, Welcome and `clientMsgId`. */
interface Wire {
  body: string;
  welcome: StoredPending['welcome'];
  clientMsgId: string;
}

/**
 * Claims a KeyPackage of every device of `users` and keeps those that pass the checks; the
 * rejected ones are reported as `error` events. With `required`, rejects with
 * `no_key_packages` when none is left. @internal
 */
export async function claim(s: RoomState, users: string[], required: boolean): Promise<VerifiedKeyPackage[]> {
  const found: VerifiedKeyPackage[] = [];
  const rejected: E2eError[] = [];
  for (const user of users) {
    const claimed = await s.host.keys.claim(user);
    found.push(...claimed.valid);
    for (const r of claimed.rejected) {
      rejected.push(r.error);
      s.events.emit('error', r.error);
    }
  }
  if (required && found.length === 0) {
    const why = rejected.length > 0 ? `: ${rejected.map((e) => e.message).join('; ')}` : '';
    throw new E2eError('no_key_packages', `no device of ${users.join(', ')} has a usable KeyPackage${why}`, { room: s.room });
  }
  return found;
}

/** What a Commit is for: `add` the devices of these packages, `remove` every device of these users. @internal */
export function intentOf(kind: IntentKind, add: VerifiedKeyPackage[], remove: string[]): StoredIntent {
  return {
    kind,
    add: add.map((k) => ({ user: k.user, device: k.device, keyPackage: toBase64(encodeKeyPackage(k.keyPackage)), lastResort: k.lastResort })),
    remove,
  };
}

/**
 * Makes the Commit of `op` in the group's current epoch, keeps it as the room's pending Commit
 * (in storage too, before it leaves) and hands it to `transmit`. Settles `op` at once when it
 * cannot be made, or when there is nothing left to commit. @internal
 */
export async function startCommit(s: RoomState, op: Op, transmit: (pending: Pending, body: string) => void): Promise<void> {
  const fail = (error: Error): void => op.reject?.(error);
  try {
    const plan = await planCommit(s, op, fail);
    if (plan === undefined) return;
    const keyPackages = await Promise.all(plan.add.map(async (a) => (await checkClaimed(a.user, { device: a.device, keyPackage: a.keyPackage })).keyPackage));
    const prepared = await plan.group.prepareCommit(keyPackages, plan.removeLeaves);
    const wire = wireOf(s.room, prepared, plan.add);
    if (wire instanceof E2eError) return fail(wire);
    const pending: Pending = { op, clientMsgId: wire.clientMsgId, prepared, welcome: wire.welcome, ...MlsGroup.diff(plan.members, MlsGroup.membersOf(prepared.state)) };
    s.group = plan.group;
    s.pending = pending;
    plan.group.holdSecrets = true;
    // Kept before it goes out: after a restart it is sent again and applied when stored.
    await s.persist();
    transmit(pending, wire.body);
  } catch (error) {
    fail(error instanceof Error ? error : new Error(String(error)));
  }
}

/** The group and the changes of `op`'s Commit; `undefined` once `op` is settled (failed, or nothing to do). */
async function planCommit(s: RoomState, op: Op, fail: (error: Error) => void): Promise<Plan | undefined> {
  const { intent } = op;
  if (intent.kind === 'create' && s.group?.active === true) {
    fail(new E2eError('group_exists', `this device already has the group of ${s.room}`, { room: s.room }));
    return undefined;
  }
  // A new group stays this device's only once its first Commit is out; what the room held
  // before it is no message of the group.
  const group = intent.kind === 'create' ? await MlsGroup.create(s.host.device) : s.group;
  if (intent.kind === 'create') s.processed = Math.max(s.processed, s.host.lastSeq(s.room) ?? 0);
  if (group === undefined || !group.active) {
    fail(new E2eError('not_member', `this device is not a member of ${s.room}'s group`, { room: s.room }));
    return undefined;
  }
  const members = group.members();
  const have = new Set(members.map((m) => m.identity));
  const add = intent.add.filter((a) => !have.has(identityOf(a)));
  const me = s.host.device.identity;
  const removeLeaves = members.filter((m) => intent.remove.includes(m.user) && m.identity !== me).map((m) => m.leaf);
  if (intent.kind !== 'create' && intent.kind !== 'update' && add.length === 0 && removeLeaves.length === 0) {
    op.resolve?.({ room: s.room, seq: undefined, epoch: group.epoch, added: [], removed: [], conflicts: op.conflicts });
    return undefined;
  }
  return { group, members, add, removeLeaves };
}

/** The `send` of a prepared Commit, or `too_large` when it is over one of the server's limits. */
function wireOf(room: RoomId, prepared: PreparedCommit, add: DeviceRef[]): Wire | E2eError {
  const body = toBase64(prepared.commit);
  if (body.length > MAX_BODY) return new E2eError('too_large', `the Commit is ${body.length} characters of base64; a body takes at most ${MAX_BODY}`, { room });
  let welcome: StoredPending['welcome'];
  if (prepared.welcome !== undefined) {
    welcome = { message: toBase64(prepared.welcome), to: add.map((a): DeviceRef => ({ user: a.user, device: a.device })) };
    if (welcome.message.length > MAX_WELCOME || welcome.to.length > MAX_WELCOME_TO) {
      return new E2eError('too_large', `the Welcome is ${welcome.message.length} characters of base64 for ${welcome.to.length} devices; the server takes ${MAX_WELCOME} for ${MAX_WELCOME_TO}`, { room });
    }
  }
  const clientMsgId = newClientMsgId();
  const frame = JSON.stringify({ action: 'send', room, body, clientMsgId, welcome }).length;
  if (frame > MAX_FRAME) {
    return new E2eError('too_large', `the Commit and its Welcome make a ${frame}-byte frame; a client frame takes at most ${MAX_FRAME} bytes (API Gateway)`, { room });
  }
  return { body, welcome, clientMsgId };
}

/** Encrypts and sends one application message (its `send` resolves or rejects `item`). @internal */
export async function sendNow(s: RoomState, item: SendWork): Promise<void> {
  const group = s.group;
  if (group === undefined || !group.active) {
    item.reject(new E2eError('not_member', `this device is not a member of ${s.room}'s group`, { room: s.room }));
    return;
  }
  try {
    const body = toBase64(await group.encrypt(item.text));
    if (body.length > MAX_BODY) throw new E2eError('too_large', `the message is ${body.length} characters of base64 once encrypted; a body takes at most ${MAX_BODY}`, { room: s.room });
    s.sent.set(item.clientMsgId, item.text);
    // The sender ratchet moved: keep it before the ciphertext leaves, so a restart never
    // encrypts twice with the same key and nonce.
    await s.persist();
    s.host.send(s.room, body, item.clientMsgId, undefined).then(item.resolve, (error: unknown) => {
      s.sent.delete(item.clientMsgId);
      item.reject(error instanceof Error ? error : new Error(String(error)));
    });
  } catch (error) {
    s.dirty = true;
    item.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
