/** Room ids as the page shows them, DM rooms (protocol.md §3), and what is kept per user. */
import type { Message, RoomId, UserId } from '../../typescript/src/index.js';

/** A user id that can be part of a DM room id: room ids take no `@ + =`, and `:` separates. */
const DM_USER = /^[A-Za-z0-9_.-]+$/;

/** `dm:{a}:{b}` with a < b in byte order, or why the pair can have no DM room. */
export function dmRoom(me: UserId, peer: UserId): { room: RoomId } | { error: string } {
  if (me === peer) return { error: 'a DM needs another user' };
  if (!DM_USER.test(me) || !DM_USER.test(peer)) {
    return { error: 'DMs need user ids made of A-Z a-z 0-9 _ . - only (room ids take no : @ + =)' };
  }
  const [a, b] = me < peer ? [me, peer] : [peer, me];
  const room = `dm:${a}:${b}`;
  return room.length <= 64 ? { room } : { error: 'the two user ids are too long for a DM room (64 characters in all)' };
}

/** The other user of a DM room of `me`, or `undefined` when `room` is not one. */
export function dmPeer(room: RoomId, me: UserId): UserId | undefined {
  const parts = room.split(':');
  if (parts.length !== 3 || parts[0] !== 'dm') return undefined;
  const [, a, b] = parts;
  if (a === me) return b;
  if (b === me) return a;
  return undefined;
}

/** Encrypted rooms (docs/e2e.md): their messages are MLS ciphertext, read through the SDK's E2eClient. */
export function isEncrypted(room: RoomId): boolean {
  return room.startsWith('e2e:');
}

/**
 * What the page shows at one seq. In an encrypted room `body` is the decrypted text, or, with
 * `note`, what stands in place of a message: a Commit's change of members, or why the message
 * could not be read.
 */
export interface Shown extends Message {
  note?: 'members' | 'undecryptable';
  /** The sender's device, in an encrypted room. */
  device?: string;
}

/** How this device stands in an encrypted room's MLS group. */
export interface E2eStatus {
  /** `creating`: its Commit making the group is on its way; `waiting`: a member has to add it. */
  state: 'member' | 'creating' | 'waiting';
  epoch: number | undefined;
  /** The devices in the group, as this device sees it. */
  devices: number;
}

/** A message of the optimistic list: sent, not yet back from the server as a `message`. */
export interface Pending {
  clientMsgId: string;
  body: string;
  sentAt: number;
  failed?: string;
}

/** What the page holds of one room. */
export class RoomModel {
  readonly id: RoomId;
  /** Keyed by seq: a message delivered twice (history and live) is shown once. */
  readonly messages = new Map<number, Shown>();
  readonly pending = new Map<string, Pending>();
  readonly members = new Set<UserId>();
  unread = 0;
  hasOlder = false;
  joined = false;
  /** Its newest history page is in: what is shown is then complete up to the newest message. */
  loaded = false;
  /** A DM joined in the background, shown once it has a message (see ChatApp.discoverDms). */
  hidden = false;
  /** For an encrypted room, once known. */
  e2e: E2eStatus | undefined;

  constructor(id: RoomId) {
    this.id = id;
  }

  get encrypted(): boolean {
    return isEncrypted(this.id);
  }

  /** Whether `m` was new. */
  add(m: Shown): boolean {
    if (this.messages.has(m.seq)) return false;
    this.messages.set(m.seq, m);
    return true;
  }

  sorted(): Shown[] {
    return [...this.messages.values()].sort((x, y) => x.seq - y.seq);
  }

  get maxSeq(): number {
    let max = 0;
    for (const seq of this.messages.keys()) max = Math.max(max, seq);
    return max;
  }

  get minSeq(): number | undefined {
    let min: number | undefined;
    for (const seq of this.messages.keys()) if (min === undefined || seq < min) min = seq;
    return min;
  }
}

/** The rooms a user had open and the one on screen, in localStorage, so a reload reopens them. */
export class SavedRooms {
  readonly #key: string;

  constructor(user: UserId) {
    this.#key = `starling-web:${user}:`;
  }

  list(): RoomId[] {
    try {
      const rooms: unknown = JSON.parse(localStorage.getItem(`${this.#key}rooms`) ?? '[]');
      return Array.isArray(rooms) ? rooms.filter((r): r is string => typeof r === 'string') : [];
    } catch {
      return [];
    }
  }

  add(room: RoomId): void {
    const rooms = this.list();
    if (!rooms.includes(room)) localStorage.setItem(`${this.#key}rooms`, JSON.stringify([...rooms, room]));
  }

  remove(room: RoomId): void {
    localStorage.setItem(`${this.#key}rooms`, JSON.stringify(this.list().filter((r) => r !== room)));
  }

  get current(): RoomId | null {
    return localStorage.getItem(`${this.#key}current`);
  }

  set current(room: RoomId) {
    localStorage.setItem(`${this.#key}current`, room);
  }

  /** The SDK's seq store prefix for this user, so users sharing a browser do not share seqs. */
  get seqPrefix(): string {
    return `${this.#key}seq:`;
  }
}

/** The newest decrypted messages kept per encrypted room. */
const TRANSCRIPT_MAX = 200;

/**
 * What this browser decrypted in its encrypted rooms, in localStorage beside the device's keys:
 * the server keeps only ciphertext, and a device can decrypt each message once (its keys move
 * on), so after a reload the page shows the room's past from here. The newest TRANSCRIPT_MAX
 * entries per room.
 */
export class Transcript {
  readonly #key: string;

  constructor(user: UserId) {
    this.#key = `starling-web:${user}:transcript:`;
  }

  load(room: RoomId): Shown[] {
    try {
      const list: unknown = JSON.parse(localStorage.getItem(this.#key + room) ?? '[]');
      return Array.isArray(list) ? (list as Shown[]).filter((m) => typeof m.seq === 'number' && typeof m.body === 'string') : [];
    } catch {
      return [];
    }
  }

  add(m: Shown): void {
    const list = this.load(m.room).filter((old) => old.seq !== m.seq);
    list.push(m);
    list.sort((a, b) => a.seq - b.seq);
    try {
      localStorage.setItem(this.#key + m.room, JSON.stringify(list.slice(-TRANSCRIPT_MAX)));
    } catch (error) {
      // Over the origin's quota: the page still shows it, a reload will not.
      console.warn(`transcript of ${m.room} not kept: ${String(error)}`);
    }
  }
}
