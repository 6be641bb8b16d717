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
  readonly messages = new Map<number, Message>();
  readonly pending = new Map<string, Pending>();
  readonly members = new Set<UserId>();
  unread = 0;
  hasOlder = false;
  joined = false;
  /** Its newest history page is in: what is shown is then complete up to the newest message. */
  loaded = false;
  /** A DM joined in the background, shown once it has a message (see ChatApp.discoverDms). */
  hidden = false;

  constructor(id: RoomId) {
    this.id = id;
  }

  /** Whether `m` was new. */
  add(m: Message): boolean {
    if (this.messages.has(m.seq)) return false;
    this.messages.set(m.seq, m);
    return true;
  }

  sorted(): Message[] {
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
