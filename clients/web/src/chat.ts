/**
 * The signed-in chat: one {@link StarlingClient}, the rooms the user has open, and what the
 * page shows of them. The SDK does the protocol (reconnect, resume, once-and-in-order delivery,
 * the outbox); this adds what a chat screen needs on top.
 */
import {
  LocalStorageStore,
  ReadCursors,
  type PresenceStatus,
  type RoomId,
  type StarlingClient,
  StarlingError,
  type TokenProvider,
  TypingIndicator,
  TypingThrottle,
  type UserId,
  connect,
} from '../../typescript/src/index.js';
import { errorText, randomId } from './dom.js';
import { EncryptedRooms } from './e2e.js';
import { RoomModel, SavedRooms, type Shown, dmPeer, dmRoom, isEncrypted } from './rooms.js';
import { RoomActivity } from './stats.js';
import { View } from './view.js';

/** Newest messages shown when a room opens; older ones on demand. */
const PAGE = 50;
/** The server announces one read per second per user and room; a faster one would go unseen. */
const READ_EVERY_MS = 1_200;
/** No event says a user joined a room, so the member list is asked for again now and then. */
const PRESENCE_EVERY_MS = 30_000;
/** DM rooms joined in the background with the members of one's rooms, so DMs to you show up. */
const MAX_DISCOVERED_DMS = 10;

export class ChatApp {
  readonly client: StarlingClient;
  readonly me: UserId;
  /** The `e2e:` rooms: this browser's MLS device and what it decrypts. */
  readonly e2e: EncryptedRooms;
  readonly #rooms = new Map<RoomId, RoomModel>();
  readonly #statuses = new Map<UserId, PresenceStatus>();
  readonly #cursors = new ReadCursors();
  readonly #myReads = new Map<RoomId, number>();
  readonly #readTimers = new Map<RoomId, ReturnType<typeof setTimeout>>();
  readonly #typing = new TypingIndicator();
  readonly #throttle: TypingThrottle;
  readonly #saved: SavedRooms;
  readonly #view: View;
  readonly #discovered = new Set<RoomId>();
  readonly #timers: Array<ReturnType<typeof setInterval>> = [];
  readonly #activity: RoomActivity;
  #current: RoomId | undefined;

  constructor(url: string, me: UserId, tokens: TokenProvider) {
    this.me = me;
    this.#saved = new SavedRooms(me);
    // The SDK keeps each room's last delivered seq here, so a reload resumes after it.
    this.client = connect(url, tokens, { store: new LocalStorageStore(this.#saved.seqPrefix) });
    this.#throttle = new TypingThrottle(this.client);
    this.#view = new View(me, { select: (room) => this.select(room), openDm: (user) => void this.openDm(user) });
    this.#activity = new RoomActivity(this.client, () => (this.#current === undefined ? undefined : this.#rooms.get(this.#current)), (stats) => this.#view.stats(stats));
    this.e2e = new EncryptedRooms(this.client, me, {
      shown: (m) => this.#onMessage(m),
      changed: (room) => void this.#showGroup(room),
      joined: (room) => void this.open(room, false),
      toast: (text) => this.#view.toast(text),
    });
    this.#statuses.set(me, 'online');
    this.#listen();
    this.#view.state(this.client.state, 0);
    const saved = this.#saved.list();
    const rooms = saved.length > 0 ? saved : ['lobby'];
    const current = this.#saved.current;
    for (const room of rooms) void this.open(room, room === (current !== null && rooms.includes(current) ? current : rooms[0]));
    this.#timers.push(setInterval(() => this.#view.typing(this.#typingHere()), 1_000));
    this.#timers.push(setInterval(() => void this.#refreshPresence(this.#current), PRESENCE_EVERY_MS));
  }

  #listen(): void {
    const c = this.client;
    c.on('state', ({ state, previous }) => {
      this.#view.state(state, c.outboxSize);
      // Presence changed unseen while the connection was down.
      if (state === 'connected' && previous === 'reconnecting') void this.#refreshPresence(this.#current);
    });
    // An encrypted room's messages are ciphertext: they come decrypted through this.e2e.
    c.on('message', (m) => {
      if (!isEncrypted(m.room)) this.#onMessage(m);
    });
    c.on('presence', (p) => {
      this.#statuses.set(p.user, p.status);
      this.#redrawPeople();
    });
    c.on('typing', ({ room, user }) => {
      this.#typing.typing(room, user);
      this.#noteMember(room, user);
      if (room === this.#current) this.#view.typing(this.#typingHere());
    });
    c.on('read', ({ room, user, seq }) => {
      if (!this.#cursors.update(room, user, seq)) return;
      if (user === this.me) this.#myReads.set(room, Math.max(seq, this.#myReads.get(room) ?? 0));
      this.#noteMember(room, user);
      if (room === this.#current) this.#view.receipts(this.#rooms.get(room), this.#readersOf(room));
    });
    c.on('gap', ({ room, fromSeq, toSeq }) => this.#view.toast(`${room}: messages ${fromSeq}–${toSeq} are past retention`));
    c.on('error', (e) => this.#view.toast(e.message));
    document.addEventListener('visibilitychange', () => this.#scheduleRead(this.#current));
  }

  /** Opens `room` (joining it once) and shows it when `show`. */
  async open(room: RoomId, show: boolean): Promise<void> {
    let model = this.#rooms.get(room);
    if (model === undefined) {
      model = new RoomModel(room);
      this.#rooms.set(room, model);
    }
    model.hidden = false;
    this.#saved.add(room);
    if (show) this.select(room);
    else this.#redrawLists();
    if (model.joined) return;
    try {
      await this.#join(model);
    } catch (error) {
      this.#view.toast(`Cannot open ${room}: ${errorText(error)}`);
      this.#forget(room);
    }
  }

  async #join(model: RoomModel): Promise<void> {
    model.joined = true;
    if (model.encrypted) {
      // What this browser decrypted there before: the server's history is ciphertext.
      for (const m of await this.e2e.open(model.id)) model.add(m);
      void this.#showGroup(model.id);
    } else {
      await this.client.join(model.id);
      // What came before the resume point, for context; the SDK delivers everything after it.
      const page = await this.client.history(model.id, { limit: PAGE });
      for (const m of page.messages) model.add(m);
      model.hasOlder = page.hasMore;
    }
    model.loaded = true;
    if (model.id === this.#current) {
      this.#redrawConversation();
      void this.#activity.refresh();
    }
    if (dmPeer(model.id, this.me) === undefined) await this.#refreshPresence(model.id);
    else for (const user of model.id.split(':').slice(1)) model.members.add(user);
    this.#redrawPeople();
  }

  select(room: RoomId): void {
    const model = this.#rooms.get(room);
    if (model === undefined) return;
    this.#current = room;
    this.#saved.current = room;
    model.unread = 0;
    this.#redrawConversation();
    this.#redrawLists();
    this.#view.members(model, this.#statuses);
    void this.#showGroup(room);
    this.#view.typing(this.#typingHere());
    this.#scheduleRead(room);
    this.#view.stats(undefined);
    if (model.loaded) void this.#activity.refresh();
  }

  async openDm(user: UserId): Promise<void> {
    const dm = dmRoom(this.me, user);
    if ('error' in dm) this.#view.toast(dm.error);
    else await this.open(dm.room, true);
  }

  async leave(): Promise<void> {
    const room = this.#current;
    if (room === undefined) return;
    this.#forget(room);
    const next = [...this.#rooms.values()].find((m) => !m.hidden);
    if (next === undefined) {
      this.#current = undefined;
      this.#redrawConversation();
    } else this.select(next.id);
    await this.client.leave(room).catch((e: unknown) => this.#view.toast(`Leaving ${room}: ${errorText(e)}`));
  }

  send(body: string): void {
    const room = this.#current;
    const model = room === undefined ? undefined : this.#rooms.get(room);
    if (room === undefined || model === undefined || body.trim() === '') return;
    const clientMsgId = randomId();
    model.pending.set(clientMsgId, { clientMsgId, body, sentAt: Date.now() });
    // No TypingThrottle.reset here: the server passes one `typing` per 2 s, so announcing again
    // right after the keystrokes of this message would be dropped anyway.
    this.#view.pending(model);
    this.#view.state(this.client.state, this.client.outboxSize + 1);
    const sent = model.encrypted ? this.e2e.send(room, body, clientMsgId) : this.client.send(room, body, { clientMsgId });
    sent.catch((error: unknown) => {
      const pending = model.pending.get(clientMsgId);
      if (pending === undefined) return;
      // A moderation refusal names its reason (blocked_term, too_many_links, …), not a fault.
      const rejected = error instanceof StarlingError && error.code === 'rejected';
      pending.failed = rejected ? `Not sent: refused by moderation (${error.reason ?? 'no reason given'})` : `Not sent: ${errorText(error)}`;
      if (room === this.#current) this.#view.pending(model);
    });
  }

  /** Adds `user`'s devices to the current encrypted room's group. */
  addMember(user: UserId): void {
    const room = this.#current;
    if (room === undefined || !isEncrypted(room) || user === '') return;
    this.e2e.add(room, user).catch((e: unknown) => this.#view.toast(`Could not add ${user}: ${errorText(e)}`));
  }

  keystroke(): void {
    if (this.#current !== undefined) this.#throttle.keystroke(this.#current);
  }

  async loadOlder(): Promise<void> {
    const model = this.#current === undefined ? undefined : this.#rooms.get(this.#current);
    const before = model?.minSeq;
    if (model === undefined || before === undefined) return;
    const page = await this.client.history(model.id, { before, limit: PAGE });
    for (const m of page.messages) model.add(m);
    model.hasOlder = page.hasMore;
    if (model.id === this.#current) this.#view.keepingPlace(() => this.#redrawConversation());
  }

  setStatus(status: 'online' | 'away'): void {
    this.client.setStatus(status).catch((e: unknown) => {
      const wait = e instanceof StarlingError && e.retryAfterMs !== undefined ? ` (try again in ${Math.ceil(e.retryAfterMs / 1000)} s)` : '';
      this.#view.toast(`Status not changed: ${errorText(e)}${wait}`);
    });
  }

  close(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#activity.close();
    for (const t of this.#readTimers.values()) clearTimeout(t);
    this.e2e.close();
    this.client.close();
  }

  #onMessage(m: Shown): void {
    const model = this.#rooms.get(m.room);
    if (model === undefined || !model.add(m)) return;
    if (m.from === this.me && m.clientMsgId !== undefined && model.pending.delete(m.clientMsgId)) this.#view.pending(model);
    // A note (an encrypted room's Commit, or an unreadable message) is nobody's words.
    const said = m.note === undefined;
    if (said) {
      this.#typing.message(m.room, m.from);
      this.#noteMember(m.room, m.from);
    }
    if (model.hidden) {
      model.hidden = false;
      this.#saved.add(model.id);
    }
    if (m.room === this.#current) {
      this.#view.append(model, m, this.#readersOf(m.room));
      this.#view.typing(this.#typingHere());
      this.#scheduleRead(m.room);
      this.#activity.soon();
    } else if (said && m.from !== this.me) {
      model.unread += 1;
    }
    this.#redrawLists();
  }

  /** An encrypted room's group changed: its header and, on screen, its safety numbers. */
  async #showGroup(room: RoomId): Promise<void> {
    const model = this.#rooms.get(room);
    if (model === undefined || !model.encrypted) {
      if (room === this.#current) this.#view.safety(undefined);
      return;
    }
    model.e2e = this.e2e.status(room);
    const numbers = room === this.#current ? await this.e2e.safetyNumbers(room) : [];
    if (room !== this.#current) return;
    this.#view.header(model);
    this.#view.safety(numbers);
  }

  /** A user active in a room the page did not list as a member: ask for the members again. */
  #noteMember(room: RoomId, user: UserId): void {
    const model = this.#rooms.get(room);
    if (model === undefined || model.members.has(user)) return;
    model.members.add(user);
    if (dmPeer(room, this.me) === undefined) void this.#refreshPresence(room);
    else if (room === this.#current) this.#view.members(model, this.#statuses);
  }

  async #refreshPresence(room: RoomId | undefined): Promise<void> {
    const model = room === undefined ? undefined : this.#rooms.get(room);
    if (model === undefined || !model.joined || dmPeer(model.id, this.me) !== undefined) return;
    try {
      let cursor: string | undefined;
      const members = new Set<UserId>();
      do {
        const page = await this.client.presence(model.id, cursor === undefined ? {} : { cursor });
        for (const m of page.members) {
          members.add(m.user);
          this.#statuses.set(m.user, m.status);
        }
        cursor = page.hasMore ? page.cursor : undefined;
      } while (cursor !== undefined && members.size < 2_000);
      model.members.clear();
      for (const user of members) model.members.add(user);
    } catch (error) {
      if (!(error instanceof StarlingError && error.code === 'closed')) this.#view.toast(`Members of ${model.id}: ${errorText(error)}`);
      return;
    }
    this.#redrawPeople();
    void this.#discoverDms(model);
  }

  /**
   * There is no per-user channel, so a DM reaches a user only in a DM room they joined. Joining
   * the DM rooms with the members of one's rooms (quietly, shown once they hold a message) lets
   * a DM sent to this user appear.
   */
  async #discoverDms(model: RoomModel): Promise<void> {
    for (const user of model.members) {
      if (this.#discovered.size >= MAX_DISCOVERED_DMS) return;
      const dm = dmRoom(this.me, user);
      if ('error' in dm || this.#rooms.has(dm.room) || this.#discovered.has(dm.room)) continue;
      this.#discovered.add(dm.room);
      const quiet = new RoomModel(dm.room);
      quiet.hidden = true;
      this.#rooms.set(dm.room, quiet);
      const joined = await this.client.join(dm.room).catch(() => undefined);
      if (joined === undefined) {
        // Refused even after the SDK's retries (rate_limited under a burst): the next presence
        // refresh tries again, or a DM sent meanwhile would never reach this page.
        this.#rooms.delete(dm.room);
        this.#discovered.delete(dm.room);
        continue;
      }
      quiet.joined = true;
      quiet.members.add(this.me).add(user);
      if (joined.lastSeq === 0) continue;
      const page = await this.client.history(dm.room, { limit: PAGE }).catch(() => undefined);
      for (const m of page?.messages ?? []) quiet.add(m);
      // Found holding messages (sent before the join went through): what the peer wrote after
      // this user's last word there is unread, as it would have been had it arrived live.
      quiet.unread += unreadFromPeer(quiet.sorted(), this.me);
      quiet.hasOlder = page?.hasMore ?? false;
      quiet.loaded = page !== undefined;
      quiet.hidden = false;
      this.#saved.add(dm.room);
      this.#redrawLists();
    }
  }

  /** Marks the current room read up to its newest message, at most once per READ_EVERY_MS. */
  #scheduleRead(room: RoomId | undefined): void {
    if (room === undefined || room !== this.#current || document.visibilityState !== 'visible' || this.#readTimers.has(room)) return;
    this.#readTimers.set(room, setTimeout(() => {
      this.#readTimers.delete(room);
      const newest = this.#rooms.get(room)?.maxSeq ?? 0;
      if (room !== this.#current || newest <= (this.#myReads.get(room) ?? 0)) return;
      this.#myReads.set(room, newest);
      this.client.markRead(room, newest).catch((e: unknown) => this.#view.toast(`Read receipt: ${errorText(e)}`));
    }, READ_EVERY_MS));
  }

  #forget(room: RoomId): void {
    this.#rooms.delete(room);
    this.#saved.remove(room);
    this.#redrawLists();
  }

  #readersOf(room: RoomId): Map<UserId, number> {
    const model = this.#rooms.get(room);
    const readers = [...(model?.members ?? [])].map((u) => [u, this.#cursors.cursor(room, u)] as const);
    return new Map(readers.filter(([, seq]) => seq > 0));
  }

  #typingHere(): UserId[] {
    return this.#current === undefined ? [] : this.#typing.typingIn(this.#current).filter((u) => u !== this.me);
  }

  #redrawLists(): void {
    this.#view.lists([...this.#rooms.values()], this.#current, this.#statuses);
  }

  #redrawConversation(): void {
    const model = this.#current === undefined ? undefined : this.#rooms.get(this.#current);
    this.#view.conversation(model, this.#readersOf(this.#current ?? ''));
  }

  #redrawPeople(): void {
    this.#redrawLists();
    this.#view.members(this.#current === undefined ? undefined : this.#rooms.get(this.#current), this.#statuses);
  }
}

/** The messages of others after `me`'s newest one in `sorted` (ascending by seq). */
export function unreadFromPeer(sorted: readonly Shown[], me: UserId): number {
  let unread = 0;
  for (const m of sorted) unread = m.from === me ? 0 : unread + 1;
  return unread;
}
