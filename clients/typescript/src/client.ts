import { Connection } from './connection.js';
import { StarlingError, errorFromFrame } from './errors.js';
import { Emitter, type Listener } from './events.js';
import type { ClientRequest, HistoryFrame, PresenceChangedFrame, PresenceFrame, ReadFrame, RoomId, ServerFrame, StatsFrame } from './generated/protocol.js';
import { type ClientOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { Outbox, type SendReceipt } from './outbox.js';
import { LinkLostError } from './requests.js';
import { Resume } from './resume.js';
import { Rooms } from './rooms.js';
import type { Session } from './session.js';
import { MemoryStore } from './store.js';
import type { TokenProvider } from './token.js';
import type { ClientEvents, ConnectionState, HistoryPage, JoinResult, PresencePage, PresenceUpdate, RoomStats } from './types.js';
import { checkBody, checkClientMsgId, checkRoom, newClientMsgId } from './validate.js';

/**
 * A Starling connection that survives drops: it reconnects with backoff, re-joins its rooms,
 * recovers what it missed (protocol.md §7), hands each room's messages to the application once
 * and in order, and keeps an outbox of sends. Create one with {@link connect}.
 */
export class StarlingClient {
  /** The WebSocket URL without the token, e.g. `wss://…/prod`. */
  readonly url: string;
  readonly #options: ResolvedOptions;
  readonly #events = new Emitter<ClientEvents>();
  readonly #outbox: Outbox;
  readonly #resume: Resume;
  readonly #connection: Connection;
  readonly #rooms: Rooms;
  readonly #presenceVersions = new Map<string, number>();
  readonly #taps = new Set<(frame: Record<string, unknown>) => boolean>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  /** Use {@link connect}. */
  constructor(url: string, tokenProvider: TokenProvider, options: ClientOptions = {}) {
    this.url = url;
    this.#options = resolveOptions(options, () => new MemoryStore());
    this.#outbox = new Outbox(this.#options.maxSendAttempts);
    this.#resume = new Resume(this.#options.store, this.#options.gapHistoryLimit, {
      active: () => this.#connection.active,
      deliver: (m) => this.#events.emit('message', m),
      gap: (g) => this.#events.emit('gap', g),
      error: (e) => this.#emitError(e),
      history: async (room, limit) => (await this.history(room, { limit })).messages,
      retryDelayMs: () => this.#connection.retryDelayMs(),
    });
    this.#rooms = new Rooms(this.#options.store, this.#options.maxSendAttempts, {
      active: () => this.#connection.active,
      candidate: () => this.#connection.candidate,
      ask: (session, request, matches) => this.#ask(session, request, matches),
      retryDelayMs: () => this.#connection.retryDelayMs(),
      start: (room, seq) => this.#resume.start(room, seq),
      delivered: (room) => this.#resume.delivered(room),
      ready: (session, room) => {
        this.#resume.begin(session, [room]);
        this.#flush(room);
      },
      gaveUp: (room, error) => this.#outbox.rejectAll(error, room),
      error: (e) => this.#emitError(e),
    });
    this.#connection = new Connection(url, tokenProvider, this.#options, {
      prepare: (session) => this.#rooms.joinAll(session),
      activated: (session) => this.#activated(session),
      drained: (previous, successor) => this.#outbox.oldestInflight(previous.link.id) === undefined && !successor.syncing,
      frame: (session, frame) => this.#onFrame(session, frame),
      closed: (session) => {
        this.#outbox.linkLost(session.link.id);
        this.#flushAll();
      },
      state: (change) => this.#events.emit('state', change),
      error: (e) => this.#emitError(e),
    });
    INTERNALS.set(this, {
      request: (request, matches) => this.#request(request as unknown as ClientRequest, matches as unknown as (f: ServerFrame) => boolean) as unknown as Promise<Record<string, unknown>>,
      send: (room, body, clientMsgId, extra) => this.#send(room, body, clientMsgId, extra),
      tap: (listener) => {
        this.#taps.add(listener);
        return () => this.#taps.delete(listener);
      },
    });
  }

  /** The connection state: `connecting`, `connected`, `reconnecting` or `disconnected` (closed by the app). */
  get state(): ConnectionState {
    return this.#connection.state;
  }

  /** The user id (`sub`) of the last token, when it is a readable JWT. */
  get user(): string | undefined {
    return this.#connection.user;
  }

  /** The rooms joined (or being joined). */
  get rooms(): RoomId[] {
    return this.#rooms.names();
  }

  /** Messages sent but not yet accepted by the server. */
  get outboxSize(): number {
    return this.#outbox.size;
  }

  /** The room's last seq handed to the application, once the room was joined. */
  lastSeq(room: RoomId): number | undefined {
    return this.#resume.delivered(room);
  }

  /** Calls `listener` on every `event`; returns a function that removes it. */
  on<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents, K>): () => void {
    return this.#events.on(event, listener);
  }

  /** Calls `listener` on the next `event` only; returns a function that removes it. */
  once<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents, K>): () => void {
    return this.#events.once(event, listener);
  }

  /** Removes `listener`. */
  off<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents, K>): void {
    this.#events.off(event, listener);
  }

  /** Resolves once the client is connected (at once if it is); rejects with `closed` if it is closed first. */
  async connected(): Promise<void> {
    await this.#connection.whenActive();
  }

  /**
   * Joins `room`, now and after every reconnect, and resolves once it is joined. Messages after
   * `since` (default: the store's seq for the room, else the room's last seq at the first join)
   * arrive as `message` events, once and in order. Rejects with the server's code (`forbidden`
   * for a DM room of others or beyond the room limit, `bad_request` for a malformed id).
   */
  async join(room: RoomId, options: { since?: number } = {}): Promise<JoinResult> {
    checkRoom(room, 'join');
    return this.#rooms.join(room, options.since);
  }

  /**
   * Leaves `room`: ends the subscription and the user's membership (on all of the user's
   * devices), forgets the room's seq, and rejects its queued sends. While offline it waits for
   * the connection, since only the server can end the membership.
   */
  async leave(room: RoomId): Promise<void> {
    checkRoom(room, 'leave');
    this.#rooms.remove(room, new StarlingError('not_found', `left ${room}`, { action: 'join', local: true }));
    this.#resume.forget(room);
    await this.#options.store.delete?.(room);
    this.#outbox.rejectAll(new StarlingError('forbidden', `left ${room} before the message was accepted`, { local: true }), room);
    const active = this.#connection.active;
    if (active?.joined.has(room) === true) {
      active.joined.delete(room);
    } else {
      // `leave` needs a subscription of this connection (protocol.md §2), which a room left
      // while offline no longer has after the reconnect.
      await this.#request({ action: 'join', room }, (f) => f.type === 'joined' && f.room === room);
    }
    await this.#request({ action: 'leave', room }, (f) => f.type === 'left' && f.room === room);
  }

  /**
   * Sends `body` to `room` (joined with {@link join}). While disconnected the message waits in
   * the outbox; it is sent, and resent after a reconnect, with the same `clientMsgId` until the
   * server accepts it, and the promise resolves then (`accepted` means queued: the `message`
   * event carrying this `clientMsgId` confirms it was stored). `rate_limited` and `internal` are
   * retried. It rejects with a {@link StarlingError} carrying the server's code, or at once
   * (`local: true`) for a body the server would refuse.
   */
  send(room: RoomId, body: string, options: { clientMsgId?: string } = {}): Promise<SendReceipt> {
    return this.#send(room, body, options.clientMsgId ?? newClientMsgId(), undefined);
  }

  #send(room: RoomId, body: string, clientMsgId: string, extra: Record<string, unknown> | undefined): Promise<SendReceipt> {
    try {
      checkRoom(room, 'send');
      checkClientMsgId(clientMsgId);
      checkBody(body, clientMsgId);
      if (!this.#rooms.has(room)) throw new StarlingError('forbidden', `join ${room} first`, { action: 'send', clientMsgId, local: true });
      if (this.state === 'disconnected') throw new StarlingError('closed', 'the client is closed', { action: 'send', clientMsgId, local: true });
    } catch (error) {
      return Promise.reject(error);
    }
    const receipt = this.#outbox.enqueue(room, body, clientMsgId, extra);
    this.#flush(room);
    return receipt;
  }

  /** One page of `room`'s stored messages, newest page first, ascending in the page. Page back with `before` = the page's first seq while `hasMore`. */
  async history(room: RoomId, options: { before?: number; limit?: number } = {}): Promise<HistoryPage> {
    checkRoom(room, 'history');
    const frame = (await this.#request({ action: 'history', room, ...options }, (f) => f.type === 'history' && f.room === room)) as HistoryFrame;
    return { room, messages: frame.messages, hasMore: frame.hasMore };
  }

  /** One page of `room`'s members; pass the page's `cursor` for the next one while `hasMore`. */
  async presence(room: RoomId, options: { cursor?: string } = {}): Promise<PresencePage> {
    checkRoom(room, 'presence');
    const frame = (await this.#request({ action: 'presence', room, ...options }, (f) => f.type === 'presence' && f.room === room)) as PresenceFrame;
    for (const m of frame.members) this.#notePresence(m.user, m.version);
    const page: PresencePage = { room, members: frame.members, hasMore: frame.hasMore };
    if (frame.cursor !== undefined) page.cursor = frame.cursor;
    return page;
  }

  /** `room`'s activity per UTC minute over the last `minutes` (1–1440, default 60): messages, senders, deliveries, oldest first, and totals. Members only. */
  async stats(room: RoomId, options: { minutes?: number } = {}): Promise<RoomStats> {
    checkRoom(room, 'stats');
    const frame = (await this.#request({ action: 'stats', room, ...options }, (f) => f.type === 'stats' && f.room === room)) as StatsFrame;
    return { room, minutes: frame.minutes, totals: frame.totals, hasMore: frame.hasMore === true };
  }

  /** Sets the user's status for all of their devices; resolves with the server's announcement. */
  async setStatus(status: 'online' | 'away'): Promise<PresenceUpdate> {
    const mine = (f: ServerFrame): boolean => f.type === 'presenceChanged' && f.status === status && (this.user === undefined || f.user === this.user);
    return presenceUpdate((await this.#request({ action: 'status', status }, mine)) as PresenceChangedFrame);
  }

  /** Moves the user's read cursor in `room` forward to `seq`; resolves with the stored cursor (which never moves back). */
  async markRead(room: RoomId, seq: number): Promise<number> {
    checkRoom(room, 'read');
    const mine = (f: ServerFrame): boolean => f.type === 'read' && f.room === room && (this.user === undefined || f.user === this.user);
    return ((await this.#request({ action: 'read', room, seq }, mine)) as ReadFrame).seq;
  }

  /** Tells `room` the user is typing (no reply; the server passes one per 2 s). `false` when not connected or not joined. For a throttle, see {@link TypingThrottle}. */
  typing(room: RoomId): boolean {
    const active = this.#connection.active;
    if (active === undefined || !active.joined.has(room)) return false;
    return active.link.send({ action: 'typing', room });
  }

  /** Sends `ping` and resolves on `pong`. The SDK pings by itself; this is for apps that want a round trip. */
  async ping(): Promise<void> {
    await this.#request({ action: 'ping' }, (f) => f.type === 'pong');
  }

  /** Replaces the connection now, make-before-break, as the planned reconnect does before API Gateway's 2-hour limit. */
  reconnect(): void {
    this.#connection.replace();
  }

  /** Drops the connection abruptly, as a network failure would; the client reconnects as after any drop. For tests and demos. */
  dropConnection(): void {
    this.#connection.active?.link.close(4999, 'dropped on purpose');
  }

  /** Closes the client for good: state `disconnected`; queued sends and waiting requests reject with `closed`. */
  close(): void {
    if (this.state === 'disconnected') return;
    this.#connection.close();
    clearTimeout(this.#flushTimer);
    const closed = new StarlingError('closed', 'the client was closed', { local: true });
    this.#outbox.rejectAll(closed);
    this.#rooms.rejectAll(closed);
  }

  /** The new connection took over: joins resolve, rooms sync, the outbox goes out. */
  #activated(session: Session): void {
    this.#rooms.activated(session);
    this.#resume.begin(session, session.joined);
    this.#flushAll();
  }

  // --- frames ---------------------------------------------------------------------------

  #onFrame(session: Session, raw: Record<string, unknown>): void {
    if (this.#tapped(raw)) return this.#connection.checkDrained();
    if (typeof raw.type !== 'string') this.#onGatewayError(session);
    else this.#dispatch(session, raw as unknown as ServerFrame);
    this.#connection.checkDrained();
  }

  /** Whether a tap (the e2e layer) took the frame: a `welcome`, or the `conflict` of its Commit. */
  #tapped(raw: Record<string, unknown>): boolean {
    let taken = false;
    for (const tap of this.#taps) taken = tap(raw) || taken;
    return taken;
  }

  #dispatch(session: Session, frame: ServerFrame): void {
    switch (frame.type) {
      case 'message': {
        const { type: _type, ...message } = frame;
        return this.#resume.offer(frame.room, [message], this.#rooms.has(frame.room));
      }
      case 'messages':
      case 'syncPage':
        return this.#resume.offer(frame.room, frame.messages, this.#rooms.has(frame.room));
      case 'synced':
        // A sync of a connection that was replaced is covered by the new one's.
        if (session === this.#connection.active) this.#resume.onSynced(session, frame);
        return;
      case 'accepted':
        if (this.#outbox.accepted(frame)) this.#flush(frame.room);
        return;
      case 'error': {
        const error = errorFromFrame(frame);
        if (frame.action === 'send') return this.#onSendError(session, error);
        if (frame.action === 'sync') return this.#resume.onSyncError(session, frame, error);
        if (!session.requests.handle(frame)) this.#emitError(error);
        return;
      }
      case 'presenceChanged':
        session.requests.handle(frame);
        if (this.#notePresence(frame.user, frame.version)) this.#events.emit('presence', presenceUpdate(frame));
        return;
      case 'typing':
        return this.#events.emit('typing', { room: frame.room, user: frame.user });
      case 'read':
        session.requests.handle(frame);
        return this.#events.emit('read', { room: frame.room, user: frame.user, seq: frame.seq });
      default:
        session.requests.handle(frame);
    }
  }

  /** API Gateway's own error frame (no `type`): the request it answers failed with `internal`. */
  #onGatewayError(session: Session): void {
    if (session.requests.failOldest()) return;
    const entry = this.#outbox.oldestInflight(session.link.id);
    if (entry !== undefined) this.#onSendError(session, new StarlingError('internal', 'the server failed to handle the send', { action: 'send', clientMsgId: entry.clientMsgId }));
  }

  // --- outbox ---------------------------------------------------------------------------

  #onSendError(session: Session, error: StarlingError): void {
    const outcome = this.#outbox.refused(error, session.link.id, Date.now(), this.#connection.retryDelayMs());
    if (outcome === undefined) return this.#emitError(error);
    this.#flush(outcome.room);
    this.#scheduleFlush();
  }

  /** Sends the room's next queued message, if the active connection is joined to it and none is out. */
  #flush(room: RoomId): void {
    const active = this.#connection.active;
    if (active === undefined || !active.link.open || !active.joined.has(room)) return;
    const entry = this.#outbox.next(room, Date.now());
    if (entry === undefined) return;
    if (!active.link.send(this.#outbox.sent(entry, active.link.id))) this.#outbox.linkLost(active.link.id);
  }

  #flushAll(): void {
    for (const room of this.#outbox.rooms()) this.#flush(room);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    const at = this.#outbox.nextRetryAt(Date.now());
    clearTimeout(this.#flushTimer);
    if (at !== undefined) this.#flushTimer = setTimeout(() => this.#flushAll(), at - Date.now());
  }

  // --- requests -------------------------------------------------------------------------

  /** Sends `request` on `session` and waits for the frame `matches` accepts. */
  #ask(session: Session, request: ClientRequest, matches: (f: ServerFrame) => boolean, timeoutMs = this.#options.requestTimeoutMs): Promise<ServerFrame> {
    const reply = session.requests.add(request, matches, timeoutMs);
    session.link.send(request);
    return reply;
  }

  /** Sends `request` once connected and waits for its reply; sent again after a drop or `rate_limited`. */
  async #request(request: ClientRequest, matches: (f: ServerFrame) => boolean): Promise<ServerFrame> {
    for (let attempt = 1; ; attempt++) {
      const session = await this.#connection.whenActive();
      try {
        return await this.#ask(session, request, matches);
      } catch (error) {
        const last = attempt >= this.#options.maxSendAttempts;
        if (error instanceof LinkLostError && !last) continue;
        if (error instanceof StarlingError && error.code === 'rate_limited' && !last) {
          await sleep(error.retryAfterMs ?? this.#connection.retryDelayMs());
          continue;
        }
        if (error instanceof LinkLostError) throw new StarlingError('internal', error.message, { action: request.action });
        throw error;
      }
    }
  }

  // --- events ---------------------------------------------------------------------------

  #notePresence(user: string, version: number): boolean {
    const known = this.#presenceVersions.get(user);
    if (known !== undefined && version <= known) return false;
    this.#presenceVersions.set(user, version);
    return true;
  }

  #emitError(error: StarlingError): void {
    // Without a listener, nobody asked: an unhandled error event must not crash the app.
    if (this.#events.listenerCount('error') > 0) this.#events.emit('error', error);
  }
}

/**
 * What the end-to-end encryption layer uses of a client beyond its public API: requests the
 * generated types do not know yet, sends with extra fields, and a look at every frame. Not
 * exported from the package.
 */
export interface ClientInternals {
  /** Sends `request` once connected and waits for the reply `matches` accepts (retried like the client's own requests). */
  request(request: { action: string } & Record<string, unknown>, matches: (frame: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Like `send`, with `extra` fields in the request (kept for every resend). */
  send(room: RoomId, body: string, clientMsgId: string, extra: Record<string, unknown> | undefined): Promise<SendReceipt>;
  /** Shows `listener` every frame first; when it returns `true`, the client does nothing more with it. Returns a function that removes it. */
  tap(listener: (frame: Record<string, unknown>) => boolean): () => void;
}

const INTERNALS = new WeakMap<StarlingClient, ClientInternals>();

/** The {@link ClientInternals} of `client`. */
export function clientInternals(client: StarlingClient): ClientInternals {
  const found = INTERNALS.get(client);
  if (found === undefined) throw new Error('not a StarlingClient');
  return found;
}

function presenceUpdate(frame: PresenceChangedFrame): PresenceUpdate {
  const { type: _type, ...update } = frame;
  return update;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Connects to a Starling server and keeps the connection up until {@link StarlingClient.close}.
 * `tokenProvider` is called before every connection attempt (tokens expire; a connection
 * outlives its token only until the next reconnect).
 *
 * ```ts
 * const client = connect('wss://chat.example.com/prod', async () => (await fetch('/token')).text());
 * client.on('message', (m) => console.log(m.room, m.seq, m.from, m.body));
 * await client.join('lobby');
 * await client.send('lobby', 'hello');
 * ```
 */
export function connect(url: string, tokenProvider: TokenProvider, options: ClientOptions = {}): StarlingClient {
  return new StarlingClient(url, tokenProvider, options);
}
