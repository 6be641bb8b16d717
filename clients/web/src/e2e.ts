/**
 * Encrypted rooms (`e2e:…`, MLS): this browser profile is one device of the user, its keys in
 * localStorage (`LocalStorageDeviceStorage`), so a reload is the same device. The SDK's
 * E2eClient publishes the device's KeyPackages, joins the groups it is added to (Welcomes) and
 * decrypts; this turns what it reports into what the page shows.
 */
import {
  E2eClient,
  E2eDevice,
  E2eError,
  type E2eMessage,
  type E2eRoom,
  LocalStorageDeviceStorage,
  type MembershipChange,
  type RoomId,
  type SendReceipt,
  type StarlingClient,
  type UserId,
} from '../../typescript/src/index.js';
import { errorText } from './dom.js';
import { type E2eStatus, type Shown, Transcript, isEncrypted } from './rooms.js';

/** What the chat does with what the encrypted rooms report. */
export interface E2eHost {
  /** A decrypted message, or a note in place of one (a Commit, an unreadable message). */
  shown(m: Shown): void;
  /** The group of `room` changed: members, epoch, or this device's place in it. */
  changed(room: RoomId): void;
  /** This device was added to `room`'s group (a Welcome): the page lists the room. */
  joined(room: RoomId): void;
  toast(text: string): void;
}

/** One member device with its safety number, for the members panel. */
export interface SafetyEntry {
  user: UserId;
  device: string;
  number: string;
  /** This browser's own device. */
  own: boolean;
}

/** How many raw messages of encrypted rooms are remembered (id, time, sender) until the SDK reports on them. */
const MAX_SEEN = 500;

export class EncryptedRooms {
  /** The E2eClient once the device is open; rejects where the browser cannot do MLS (no WebCrypto). */
  readonly ready: Promise<E2eClient>;
  readonly #host: E2eHost;
  readonly #transcript: Transcript;
  readonly #rooms = new Map<RoomId, E2eRoom>();
  readonly #creating = new Set<RoomId>();
  readonly #seen = new Map<string, { id: string; sentAt: string; from: UserId }>();

  constructor(client: StarlingClient, me: UserId, host: E2eHost) {
    this.#host = host;
    this.#transcript = new Transcript(me);
    this.ready = this.#start(client, me);
    // Without a listener the rejection would be unhandled before any e2e room is opened.
    this.ready.catch(() => undefined);
    client.on('message', (m) => {
      if (!isEncrypted(m.room)) return;
      this.#seen.set(`${m.room}#${m.seq}`, { id: m.id, sentAt: m.sentAt, from: m.from });
      const oldest = this.#seen.keys().next().value;
      if (this.#seen.size > MAX_SEEN && oldest !== undefined) this.#seen.delete(oldest);
    });
  }

  async #start(client: StarlingClient, me: UserId): Promise<E2eClient> {
    if (globalThis.crypto?.subtle === undefined) {
      throw new Error('encrypted rooms need WebCrypto, which browsers give only to https pages and to localhost');
    }
    const device = await E2eDevice.open(new LocalStorageDeviceStorage(`starling-web:${me}:e2e:`), me);
    const e2e = new E2eClient(client, device);
    e2e.on('message', (m) => this.#message(m));
    e2e.on('members', (c) => this.#members(c));
    e2e.on('removed', (c) => this.#host.toast(`This device was removed from ${c.room}'s encrypted group by ${c.from}`));
    e2e.on('joined', ({ room, from }) => {
      this.#host.toast(`${from} added you to the encrypted room ${room}`);
      this.#host.joined(room);
      this.#host.changed(room);
    });
    e2e.on('error', (e) => this.#error(e));
    return e2e;
  }

  /**
   * Opens `room` on the device (joined from the last seq it read) and, when the room is empty,
   * makes its group with this device as the first member. Resolves with what this browser
   * decrypted there before.
   */
  async open(room: RoomId): Promise<Shown[]> {
    const e2e = await this.ready;
    const opened = await e2e.room(room);
    this.#rooms.set(room, opened);
    if (!opened.isMember && !opened.committing && (await e2e.client.join(room)).lastSeq === 0) void this.#create(opened);
    return this.#transcript.load(room);
  }

  async #create(room: E2eRoom): Promise<void> {
    this.#creating.add(room.room);
    this.#host.changed(room.room);
    try {
      await room.create();
    } catch (error) {
      const lost = error instanceof E2eError && error.code === 'group_exists';
      this.#host.toast(lost ? `${room.room} already has a group: ask a member to add you` : `Could not make ${room.room}'s group: ${errorText(error)}`);
    } finally {
      this.#creating.delete(room.room);
      this.#host.changed(room.room);
    }
  }

  /** Encrypts and sends `text` (queued while offline); resolves once the server accepted it. */
  async send(room: RoomId, text: string, clientMsgId: string): Promise<SendReceipt> {
    return this.#room(room).send(text, { clientMsgId });
  }

  /** Adds every device of `user` that published a KeyPackage; resolves once the Commit is stored. */
  async add(room: RoomId, user: UserId): Promise<void> {
    const result = await this.#room(room).add(user);
    if (result.added.length === 0) this.#host.toast(`${user} is already in ${room}'s group`);
  }

  /** How this device stands in `room`'s group; `undefined` until the room is open. */
  status(room: RoomId): E2eStatus | undefined {
    const opened = this.#rooms.get(room);
    if (opened === undefined) return undefined;
    const state = opened.isMember ? 'member' : this.#creating.has(room) ? 'creating' : 'waiting';
    return { state, epoch: opened.epoch, devices: opened.members().length };
  }

  /** Every member device of `room`'s group with its safety number, this device first. */
  async safetyNumbers(room: RoomId): Promise<SafetyEntry[]> {
    const e2e = await this.ready.catch(() => undefined);
    const opened = this.#rooms.get(room);
    if (e2e === undefined || opened === undefined) return [];
    const entries = await Promise.all(opened.members().map(async (m): Promise<SafetyEntry> => ({
      user: m.user,
      device: m.device,
      number: (await opened.safetyNumber(m.user, m.device)) ?? '',
      own: m.user === e2e.device.user && m.device === e2e.device.id,
    })));
    return entries.sort((a, b) => Number(b.own) - Number(a.own) || a.user.localeCompare(b.user) || a.device.localeCompare(b.device));
  }

  close(): void {
    void this.ready.then((e2e) => e2e.close(), () => undefined);
  }

  #room(room: RoomId): E2eRoom {
    const opened = this.#rooms.get(room);
    if (opened === undefined) throw new Error(`${room} is not open yet`);
    return opened;
  }

  #message(m: E2eMessage): void {
    this.#seen.delete(`${m.room}#${m.seq}`);
    const shown: Shown = { room: m.room, seq: m.seq, id: m.id, from: m.from, body: m.text, sentAt: m.sentAt, device: m.device };
    if (m.clientMsgId !== undefined) shown.clientMsgId = m.clientMsgId;
    this.#show(shown);
  }

  #members(c: MembershipChange): void {
    this.#show({ ...this.#origin(c.room, c.seq), room: c.room, seq: c.seq, from: c.from, body: describe(c), note: 'members' });
    this.#host.changed(c.room);
  }

  #error(error: Error): void {
    if (error instanceof E2eError && error.room !== undefined && error.seq !== undefined && (error.code === 'undecryptable' || error.code === 'sender_mismatch')) {
      const why = error.code === 'undecryptable' ? 'This message could not be decrypted on this device' : 'This message was refused: it is signed by another user than its sender';
      this.#show({ ...this.#origin(error.room, error.seq), room: error.room, seq: error.seq, body: `${why} (${error.message})`, note: 'undecryptable' });
      return;
    }
    this.#host.toast(`Encrypted rooms: ${error.message}`);
  }

  /** The id, time and sender of the raw message at `seq`, as the server stored it (`from` is empty when unknown). */
  #origin(room: RoomId, seq: number): { id: string; sentAt: string; from: UserId } {
    const key = `${room}#${seq}`;
    const seen = this.#seen.get(key);
    this.#seen.delete(key);
    return seen ?? { id: `seq-${seq}`, sentAt: new Date().toISOString(), from: '' };
  }

  #show(m: Shown): void {
    this.#transcript.add(m);
    this.#host.shown(m);
  }
}

/** "alice added bob", "alice made the group with bob", "alice removed carol", "alice renewed their keys". */
function describe(c: MembershipChange): string {
  const who = c.by?.user ?? c.from;
  const users = (list: MembershipChange['added']) => {
    const count = new Map<UserId, number>();
    for (const m of list) count.set(m.user, (count.get(m.user) ?? 0) + 1);
    return [...count].map(([user, n]) => (n === 1 ? user : `${user} (${n} devices)`)).join(', ');
  };
  const parts: string[] = [];
  if (c.epoch === 1) parts.push(c.added.length > 0 ? `made the encrypted group with ${users(c.added)}` : 'made the encrypted group');
  else if (c.added.length > 0) parts.push(`added ${users(c.added)}`);
  if (c.removed.length > 0) parts.push(`removed ${users(c.removed)}`);
  if (parts.length === 0) parts.push(c.by !== undefined ? 'renewed their keys' : 'changed the group');
  return `${who} ${parts.join(' and ')}`;
}
