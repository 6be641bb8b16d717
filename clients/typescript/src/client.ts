import { Backoff } from './backoff.js';
import { StarlingError, errorFromFrame } from './errors.js';
import { Emitter, type Listener } from './events.js';
import type {
  ClientRequest,
  ErrorFrame,
  HistoryFrame,
  JoinedFrame,
  PresenceFrame,
  PresenceChangedFrame,
  ReadFrame,
  RoomId,
  ServerFrame,
  StoredMessage,
  SyncedFrame,
} from './generated/protocol.js';
import { Inbox } from './inbox.js';
import { type ClientOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { Outbox, type SendReceipt } from './outbox.js';
import { LinkLostError } from './requests.js';
import { Session } from './session.js';
import { MemoryStore } from './store.js';
import { type TokenProvider, type TokenRequest, readClaims, withToken } from './token.js';
import { Link } from './transport.js';
import type { ClientEvents, ConnectionState, HistoryPage, JoinResult, PresencePage, PresenceUpdate } from './types.js';
import { checkBody, checkClientMsgId, checkRoom } from './validate.js';

interface Want {
  /** Where to start the room when it is first joined: the app's `since`, else the store's seq. */
  start: number | undefined | Promise<number | undefined>;
  waiters: Array<{ resolve: (r: JoinResult) => void; reject: (e: StarlingError) => void }>;
  lastJoined: JoinedFrame | undefined;
}

/**
 * A Starling connection that survives drops: it reconnects with backoff, re-joins its rooms,
 * recovers what it missed (protocol.md §7), hands each room's messages to the application once
 * and in order, and keeps an outbox of sends. Create one with {@link connect}.
 */
export class StarlingClient {
  /** The WebSocket URL without the token, e.g. `wss://…/prod`. */
  readonly url: string;
  readonly #tokenProvider: TokenProvider;
  readonly #options: ResolvedOptions;
  readonly #events = new Emitter<ClientEvents>((e) => this.#reportListenerError(e));
  readonly #inbox = new Inbox();
  readonly #outbox: Outbox;
  readonly #backoff: Backoff;
  readonly #wants = new Map<RoomId, Want>();
  readonly #prejoin = new Map<RoomId, StoredMessage[]>();
  readonly #presenceVersions = new Map<string, number>();
  readonly #waitingActive: Array<{ resolve: (s: Session) => void; reject: (e: StarlingError) => void }> = [];
  #state: ConnectionState = 'connecting';
  #user: string | undefined;
  #active: Session | undefined;
  #candidate: Session | undefined;
  readonly #draining = new Set<Session>();
  #authFailed = false;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  /** Use {@link connect}. */
  constructor(url: string, tokenProvider: TokenProvider, options: ClientOptions = {}) {
    this.url = url;
    this.#tokenProvider = tokenProvider;
    this.#options = resolveOptions(options, () => new MemoryStore());
    this.#outbox = new Outbox(this.#options.maxSendAttempts);
    this.#backoff = new Backoff(this.#options.backoff, this.#options.random);
    void this.#open('connect');
  }

  /** The connection state: `connecting`, `connected`, `reconnecting` or `disconnected` (closed by the app). */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The user id (`sub`) of the last token, when it is a readable JWT. */
  get user(): string | undefined {
    return this.#user;
  }

  /** The rooms joined (or being joined). */
  get rooms(): RoomId[] {
    return [...this.#wants.keys()];
  }

  /** Messages sent but not yet accepted by the server. */
  get outboxSize(): number {
    return this.#outbox.size;
  }

  /** The room's last seq handed to the application, when the room is joined. */
  lastSeq(room: RoomId): number | undefined {
    return this.#inbox.delivered(room);
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
    await this.#whenActive();
  }

  /**
   * Joins `room`, now and after every reconnect, and resolves once it is joined. Messages after
   * `since` (default: the store's seq for the room, else the room's last seq at the first join)
   * are delivered as `message` events, once and in order.
   */
  async join(room: RoomId, options: { since?: number } = {}): Promise<JoinResult> {
    checkRoom(room, 'join');
    let want = this.#wants.get(room);
    if (want === undefined) {
      // Registered before any await, so a `send` right after `join()` finds the room.
      want = { start: options.since ?? this.#options.store.get(room), waiters: [], lastJoined: undefined };
      this.#wants.set(room, want);
    }
    const active = this.#active;
    if (active?.joined.has(room) && want.lastJoined !== undefined) return this.#joinResult(want.lastJoined);
    const joined = new Promise<JoinResult>((resolve, reject) => want.waiters.push({ resolve, reject }));
    // Also on a connection still being set up, whose own joins may already be done.
    for (const session of [active, this.#candidate]) if (session?.link.open) void this.#joinOn(session, room);
    return joined;
  }

  /** Leaves `room`: ends the subscription and the user's membership, forgets its seq, and rejects its queued sends. */
  async leave(room: RoomId): Promise<void> {
    checkRoom(room, 'leave');
    const want = this.#wants.get(room);
    this.#wants.delete(room);
    this.#inbox.untrack(room);
    this.#prejoin.delete(room);
    await this.#options.store.delete?.(room);
    const left = new StarlingError('not_found', `left ${room}`, { action: 'join', local: true });
    for (const w of want?.waiters.splice(0) ?? []) w.reject(left);
    this.#outbox.rejectAll(new StarlingError('forbidden', `left ${room} before the message was accepted`, { local: true }), room);
    const active = this.#active;
    if (active === undefined || !active.joined.has(room)) return;
    active.joined.delete(room);
    await this.#request({ action: 'leave', room }, (f) => f.type === 'left' && f.room === room);
  }

  /**
   * Sends `body` to `room` (joined with {@link join}). While disconnected the message waits in
   * the outbox; it is sent, and resent after a reconnect, with the same `clientMsgId` until the
   * server accepts it, and the promise resolves then (`accepted` means queued: the `message`
   * event carrying this `clientMsgId` confirms it was stored). It rejects with a
   * {@link StarlingError} carrying the server's code, or at once (`local: true`) for a body the
   * server would refuse.
   */
  send(room: RoomId, body: string, options: { clientMsgId?: string } = {}): Promise<SendReceipt> {
    const clientMsgId = options.clientMsgId ?? globalThis.crypto.randomUUID();
    try {
      checkRoom(room, 'send');
      checkClientMsgId(clientMsgId);
      checkBody(body, clientMsgId);
      if (!this.#wants.has(room)) throw new StarlingError('forbidden', `join ${room} first`, { action: 'send', clientMsgId, local: true });
      if (this.#state === 'disconnected') throw new StarlingError('closed', 'the client is closed', { action: 'send', clientMsgId, local: true });
    } catch (error) {
      return Promise.reject(error);
    }
    const receipt = this.#outbox.enqueue(room, body, clientMsgId);
    this.#flush(room);
    return receipt;
  }

  /** One page of `room`'s stored messages, newest page first, ascending in the page. Page back with `before` = the page's first seq while `hasMore`. */
  async history(room: RoomId, options: { before?: number; limit?: number } = {}): Promise<HistoryPage> {
    checkRoom(room, 'history');
    const request: ClientRequest = { action: 'history', room, ...options };
    const frame = (await this.#request(request, (f) => f.type === 'history' && f.room === room)) as HistoryFrame;
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

  /** Sets the user's status for all of their devices; resolves with the server's announcement. */
  async setStatus(status: 'online' | 'away'): Promise<PresenceUpdate> {
    const frame = (await this.#request({ action: 'status', status }, (f) => f.type === 'presenceChanged' && f.status === status && (this.#user === undefined || f.user === this.#user))) as PresenceChangedFrame;
    return presenceUpdate(frame);
  }

  /** Moves the user's read cursor in `room` forward to `seq`; resolves with the stored cursor (which never moves back). */
  async markRead(room: RoomId, seq: number): Promise<number> {
    checkRoom(room, 'read');
    const frame = (await this.#request({ action: 'read', room, seq }, (f) => f.type === 'read' && f.room === room && (this.#user === undefined || f.user === this.#user))) as ReadFrame;
    return frame.seq;
  }

  /** Tells `room` the user is typing (no reply; the server passes one per 2 s). `false` when not connected or not joined. For a throttle, see {@link TypingThrottle}. */
  typing(room: RoomId): boolean {
    const active = this.#active;
    if (active === undefined || !active.joined.has(room)) return false;
    return active.link.send({ action: 'typing', room });
  }

  /** Sends `ping` and resolves on `pong`. The SDK pings by itself; this is for apps that want a round trip. */
  async ping(): Promise<void> {
    await this.#request({ action: 'ping' }, (f) => f.type === 'pong');
  }

  /** Replaces the connection now, make-before-break, as the planned reconnect does before API Gateway's 2-hour limit. */
  reconnect(): void {
    if (this.#state === 'connected' && this.#candidate === undefined) void this.#open('planned');
  }

  /**
   * Drops the connection abruptly without a close handshake, as a network failure would; the
   * client reconnects as after any drop. For tests and demos.
   */
  dropConnection(): void {
    this.#active?.link.close(4999, 'dropped on purpose');
  }

  /** Closes the client for good: state `disconnected`; queued sends and waiting requests reject with `closed`. */
  close(): void {
    if (this.#state === 'disconnected') return;
    this.#setState('disconnected');
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#flushTimer);
    const closed = new StarlingError('closed', 'the client was closed', { local: true });
    for (const s of [this.#active, this.#candidate, ...this.#draining]) s?.end(1000, 'client closed');
    this.#active = undefined;
    this.#candidate = undefined;
    this.#outbox.rejectAll(closed);
    for (const w of this.#waitingActive.splice(0)) w.reject(closed);
    for (const want of this.#wants.values()) for (const w of want.waiters.splice(0)) w.reject(closed);
  }

  // --- connection lifecycle -------------------------------------------------------------

  async #open(reason: TokenRequest['reason']): Promise<void> {
    if (this.#state === 'disconnected') return;
    let token: string;
    try {
      token = await this.#tokenProvider({ reason, forceRefresh: this.#authFailed, attempt: this.#attempt });
    } catch (error) {
      this.#emitError(new StarlingError('unauthorized', `the token provider failed: ${String(error)}`, { local: true }));
      this.#afterFailedAttempt(reason);
      return;
    }
    if (this.#isClosed()) return;
    this.#user = readClaims(token).sub ?? this.#user;
    const session = new Session(reason === 'planned', (s) =>
      new Link(this.#options.WebSocket, withToken(this.url, token), {
        open: () => void this.#establish(s),
        frame: (_, frame) => this.#onFrame(s, frame),
        close: (link, code) => this.#onClose(s, code, link.openedAt === undefined, link.closedByClient),
      }),
    );
    this.#candidate = session;
    session.timer('connect', this.#options.connectTimeoutMs, () => session.end(1000, 'connect timeout'));
  }

  /** The handshake succeeded: re-join every room, then make the session the active one. */
  async #establish(session: Session): Promise<void> {
    // Rooms joined by the application meanwhile are joined too before the session takes over.
    for (;;) {
      const missing = [...this.#wants.keys()].filter((room) => !session.joined.has(room));
      if (missing.length === 0 || session.link.closed) break;
      await Promise.all(missing.map((room) => this.#joinOn(session, room)));
    }
    if (session.link.closed || this.#isClosed()) return;
    session.clearTimer('connect');
    const previous = this.#active;
    this.#active = session;
    this.#candidate = undefined;
    this.#authFailed = false;
    this.#attempt = 0;
    session.timer('stable', this.#options.stableAfterMs, () => this.#backoff.reset());
    const planned = this.#options.plannedReconnectMs - this.#options.random() * this.#options.plannedReconnectJitterMs;
    session.timer('planned', planned, () => this.reconnect());
    this.#armHeartbeat(session);
    this.#setState('connected');
    for (const w of this.#waitingActive.splice(0)) w.resolve(session);
    for (const room of session.joined) this.#resolveJoins(room);
    this.#sendSyncs(session, this.#inbox.beginSync(session.joined));
    this.#flushAll();
    if (previous !== undefined) {
      this.#draining.add(previous);
      // Closed once the new connection has caught up (its syncs answered) and nothing is out on the old one.
      previous.drain(this.#options.drainMs, () => this.#outbox.oldestInflight(previous.link.id) === undefined && !session.syncing);
    }
  }

  #onClose(session: Session, code: number, beforeOpen: boolean, byClient: boolean): void {
    session.closed(new LinkLostError());
    this.#outbox.linkLost(session.link.id);
    if (this.#draining.delete(session)) return this.#flushAll();
    if (this.#state === 'disconnected') return;
    if (beforeOpen || (!byClient && (code === 1008 || (code >= 4000 && code < 5000)))) this.#authFailed = true;
    if (session === this.#candidate) {
      this.#candidate = undefined;
      this.#afterFailedAttempt(session.planned && this.#active !== undefined ? 'planned' : 'reconnect');
    } else if (session === this.#active) {
      this.#active = undefined;
      this.#setState('reconnecting', code);
      this.#scheduleAttempt('reconnect');
    }
    this.#flushAll();
  }

  #afterFailedAttempt(reason: TokenRequest['reason']): void {
    this.#attempt += 1;
    this.#scheduleAttempt(reason);
  }

  /** The next connection attempt, after a backoff delay. */
  #scheduleAttempt(reason: TokenRequest['reason']): void {
    if (this.#state === 'disconnected') return;
    const delay = this.#backoff.next();
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => {
      if (reason === 'planned') this.reconnect();
      else if (this.#active === undefined && this.#candidate === undefined) void this.#open(this.#state === 'connecting' ? 'connect' : 'reconnect');
    }, delay);
  }

  #armHeartbeat(session: Session): void {
    const due = session.link.lastSentAt + this.#options.heartbeatIntervalMs - Date.now();
    session.timer('heartbeat', Math.max(0, due), () => {
      if (session !== this.#active) return;
      if (Date.now() - session.link.lastSentAt >= this.#options.heartbeatIntervalMs) {
        const ping: ClientRequest = { action: 'ping' };
        const pong = session.requests.add(ping, (f) => f.type === 'pong', this.#options.heartbeatTimeoutMs);
        session.link.send(ping);
        pong.catch((error: unknown) => {
          if (error instanceof StarlingError && error.code === 'timeout') session.end(1000, 'no pong');
        });
      }
      this.#armHeartbeat(session);
    });
  }

  async #joinOn(session: Session, room: RoomId): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (session.link.closed || !this.#wants.has(room)) return;
      const request: ClientRequest = { action: 'join', room };
      const reply = session.requests.add(request, (f) => f.type === 'joined' && f.room === room, this.#options.requestTimeoutMs);
      session.link.send(request);
      try {
        await this.#onJoined(session, (await reply) as JoinedFrame);
        return;
      } catch (error) {
        if (!(error instanceof StarlingError)) return;
        if (error.code === 'timeout') return session.end(1000, 'join timed out');
        if (error.code === 'rate_limited' && attempt < this.#options.maxSendAttempts) {
          await sleep(error.retryAfterMs ?? 1000);
          continue;
        }
        if (error.code === 'internal' && attempt < this.#options.maxSendAttempts) {
          await sleep(this.#backoff.ceiling());
          continue;
        }
        const want = this.#wants.get(room);
        this.#wants.delete(room);
        this.#outbox.rejectAll(error, room);
        for (const w of want?.waiters.splice(0) ?? []) w.reject(error);
        if (want?.waiters.length === 0) this.#emitError(error);
        return;
      }
    }
  }

  async #onJoined(session: Session, frame: JoinedFrame): Promise<void> {
    const want = this.#wants.get(frame.room);
    if (want === undefined) return;
    const start = await want.start;
    if (this.#wants.get(frame.room) !== want) return;
    want.lastJoined = frame;
    session.joined.add(frame.room);
    if (!this.#inbox.has(frame.room)) {
      this.#inbox.track(frame.room, start ?? frame.lastSeq);
      const early = this.#prejoin.get(frame.room) ?? [];
      this.#prejoin.delete(frame.room);
      this.#deliver(this.#inbox.offer(frame.room, early));
    }
    if (session === this.#active) {
      this.#resolveJoins(frame.room);
      this.#sendSyncs(session, this.#inbox.beginSync([frame.room]));
      this.#flush(frame.room);
    }
  }

  /** Resolves the application's `join` promises of `room` (once its connection is the active one). */
  #resolveJoins(room: RoomId): void {
    const want = this.#wants.get(room);
    if (want?.lastJoined === undefined) return;
    const result = this.#joinResult(want.lastJoined);
    for (const w of want.waiters.splice(0)) w.resolve(result);
  }

  #joinResult(frame: JoinedFrame): JoinResult {
    return { room: frame.room, lastSeq: frame.lastSeq, delivered: this.#inbox.delivered(frame.room) ?? frame.lastSeq };
  }

  // --- frames ---------------------------------------------------------------------------

  #onFrame(session: Session, raw: Record<string, unknown>): void {
    if (typeof raw.type !== 'string') {
      // API Gateway's own error frame: the request it answers failed with `internal`.
      if (!session.requests.failOldest()) {
        const entry = this.#outbox.oldestInflight(session.link.id);
        if (entry !== undefined) this.#onSendError(session, new StarlingError('internal', 'the server failed to handle the send', { action: 'send', clientMsgId: entry.clientMsgId }), entry.room);
      }
      return;
    }
    const frame = raw as unknown as ServerFrame;
    switch (frame.type) {
      case 'message': {
        const { type: _type, ...message } = frame;
        this.#offer(frame.room, [message]);
        break;
      }
      case 'syncPage':
        this.#offer(frame.room, frame.messages);
        break;
      case 'synced':
        if (session === this.#active) this.#onSynced(session, frame);
        break;
      case 'accepted':
        if (this.#outbox.accepted(frame)) this.#flush(frame.room);
        break;
      case 'error':
        this.#onErrorFrame(session, frame);
        break;
      case 'presenceChanged':
        session.requests.handle(frame);
        if (this.#notePresence(frame.user, frame.version)) this.#events.emit('presence', presenceUpdate(frame));
        break;
      case 'typing':
        this.#events.emit('typing', { room: frame.room, user: frame.user });
        break;
      case 'read':
        session.requests.handle(frame);
        this.#events.emit('read', { room: frame.room, user: frame.user, seq: frame.seq });
        break;
      default:
        session.requests.handle(frame);
    }
    for (const old of this.#draining) old.maybeDrained();
  }

  #offer(room: RoomId, messages: readonly StoredMessage[]): void {
    if (this.#inbox.has(room)) {
      this.#deliver(this.#inbox.offer(room, messages));
      if (this.#active !== undefined) this.#sendSyncs(this.#active, this.#inbox.nextSyncs());
    } else if (this.#wants.has(room)) {
      // Live before this room's first `joined`: kept until its start seq is known.
      const early = this.#prejoin.get(room) ?? [];
      early.push(...messages);
      this.#prejoin.set(room, early);
    }
  }

  #onSynced(session: Session, frame: SyncedFrame): void {
    session.syncDone(frame.room);
    const step = this.#inbox.onSynced(frame);
    this.#deliver(step.deliver);
    if (step.gap !== undefined) this.#events.emit('gap', step.gap);
    if (step.needHistory !== undefined) void this.#resetFromHistory(step.needHistory);
    this.#sendSyncs(session, this.#inbox.nextSyncs());
  }

  async #resetFromHistory(room: RoomId): Promise<void> {
    let page: readonly StoredMessage[] | undefined;
    try {
      page = (await this.history(room, { limit: this.#options.gapHistoryLimit })).messages;
    } catch {
      page = undefined;
    }
    const step = this.#inbox.resetFromHistory(room, page);
    if (step.gap !== undefined) this.#events.emit('gap', step.gap);
    this.#deliver(step.deliver);
    if (this.#active !== undefined) this.#sendSyncs(this.#active, this.#inbox.nextSyncs());
  }

  #onErrorFrame(session: Session, frame: ErrorFrame): void {
    const error = errorFromFrame(frame);
    if (frame.action === 'send') {
      const entry = this.#outbox.oldestInflight(session.link.id);
      return this.#onSendError(session, error, entry?.room);
    }
    if (frame.action === 'sync') {
      const failed = session.syncFailed(frame.message);
      if (failed.refusedRoom !== undefined) this.#inbox.syncRefused(failed.refusedRoom);
      else this.#inbox.syncFailed(failed.rooms);
      this.#emitError(error);
      const delay = error.retryAfterMs ?? this.#backoff.ceiling();
      if (failed.refusedRoom === undefined) setTimeout(() => session === this.#active && this.#sendSyncs(session, this.#inbox.nextSyncs()), delay);
      return;
    }
    if (!session.requests.handle(frame)) this.#emitError(error);
  }

  #onSendError(session: Session, error: StarlingError, room: RoomId | undefined): void {
    const outcome = this.#outbox.refused(error, session.link.id, Date.now(), this.#backoff.ceiling());
    if (outcome === undefined) return this.#emitError(error);
    if (room !== undefined) this.#flush(room);
    this.#scheduleFlush();
  }

  #sendSyncs(session: Session, requests: ReturnType<Inbox['nextSyncs']>): void {
    for (const request of requests) {
      if (session === this.#active && session.link.send(request)) session.syncSent(Object.keys(request.rooms));
      else this.#inbox.syncFailed(Object.keys(request.rooms));
    }
  }

  #deliver(messages: readonly StoredMessage[]): void {
    const rooms = new Set<RoomId>();
    for (const m of messages) {
      rooms.add(m.room);
      this.#events.emit('message', m);
    }
    for (const room of rooms) {
      const seq = this.#inbox.delivered(room);
      if (seq === undefined) continue;
      Promise.resolve(this.#options.store.set(room, seq)).catch((e: unknown) => this.#emitError(new StarlingError('internal', `the seq store failed: ${String(e)}`, { local: true })));
    }
  }

  // --- outbox ---------------------------------------------------------------------------

  #flush(room: RoomId): void {
    const active = this.#active;
    if (active === undefined || !active.joined.has(room)) return;
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

  /** Sends `request` once connected and waits for its reply; resent after a drop or `rate_limited`. */
  async #request(request: ClientRequest, matches: (f: ServerFrame) => boolean): Promise<ServerFrame> {
    for (let attempt = 1; ; attempt++) {
      const session = await this.#whenActive();
      const reply = session.requests.add(request, matches, this.#options.requestTimeoutMs);
      session.link.send(request);
      try {
        return await reply;
      } catch (error) {
        const last = attempt >= this.#options.maxSendAttempts;
        if (error instanceof LinkLostError && !last) continue;
        if (error instanceof StarlingError && error.code === 'rate_limited' && !last) {
          await sleep(error.retryAfterMs ?? 1000);
          continue;
        }
        if (error instanceof LinkLostError) throw new StarlingError('internal', error.message, { action: request.action });
        throw error;
      }
    }
  }

  #whenActive(): Promise<Session> {
    if (this.#state === 'disconnected') return Promise.reject(new StarlingError('closed', 'the client is closed', { local: true }));
    if (this.#active !== undefined && this.#state === 'connected') return Promise.resolve(this.#active);
    return new Promise((resolve, reject) => this.#waitingActive.push({ resolve, reject }));
  }

  // --- events ---------------------------------------------------------------------------

  #setState(state: ConnectionState, code?: number): void {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    this.#events.emit('state', code === undefined ? { state, previous } : { state, previous, code });
  }

  #notePresence(user: string, version: number): boolean {
    const known = this.#presenceVersions.get(user);
    if (known !== undefined && version <= known) return false;
    this.#presenceVersions.set(user, version);
    return true;
  }

  /** A method, so TypeScript does not narrow the state across an `await`. */
  #isClosed(): boolean {
    return this.#state === 'disconnected';
  }

  #emitError(error: StarlingError): void {
    if (this.#events.listenerCount('error') > 0) this.#events.emit('error', error);
  }

  #reportListenerError(error: unknown): void {
    queueMicrotask(() => {
      throw error;
    });
  }
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
