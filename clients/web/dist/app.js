// ../typescript/src/token.ts
function readClaims(token) {
  const part = token.split(".")[1];
  if (part === void 0) return {};
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "=")), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof claims !== "object" || claims === null) return {};
    const { sub, exp } = claims;
    const out = {};
    if (typeof sub === "string") out.sub = sub;
    if (typeof exp === "number") out.exp = exp;
    return out;
  } catch {
    return {};
  }
}
function withToken(url, token) {
  const u = new URL(url);
  u.searchParams.set("token", token);
  return u.toString();
}
function handshakeUrl(url, token) {
  const u = new URL(withToken(url, token));
  u.searchParams.set("batch", "1");
  return u.toString();
}

// ../typescript/src/backoff.ts
var Backoff = class {
  #initial;
  #max;
  #multiplier;
  #random;
  #attempt = 0;
  /** @param random a source of numbers in [0, 1); tests pass a fixed one. */
  constructor(options = {}, random = Math.random) {
    this.#initial = options.initialDelayMs ?? 500;
    this.#max = options.maxDelayMs ?? 3e4;
    this.#multiplier = options.multiplier ?? 2;
    if (!(this.#initial >= 0 && this.#max >= 0 && this.#multiplier >= 1)) {
      throw new RangeError("backoff: delays must be ≥ 0 and the multiplier ≥ 1");
    }
    this.#random = random;
  }
  /** How many times the ceiling grew since the last {@link reset}. */
  get attempts() {
    return this.#attempt;
  }
  /** The ceiling of the next delay. */
  ceiling() {
    if (this.#initial === 0) return 0;
    const raw = this.#initial * this.#multiplier ** this.#attempt;
    return Number.isFinite(raw) ? Math.min(this.#max, raw) : this.#max;
  }
  /** The delay before the next attempt; each call counts as one attempt. */
  next() {
    const delay = Math.floor(this.#random() * this.ceiling());
    if (this.#initial > 0 && this.ceiling() < this.#max) this.#attempt += 1;
    return delay;
  }
  /** Back to the first, shortest delay: after a connection proved stable. */
  reset() {
    this.#attempt = 0;
  }
};

// ../typescript/src/generated/protocol.ts
var ERROR_CODES = ["bad_request", "unknown_action", "too_large", "unauthorized", "forbidden", "not_found", "rate_limited", "rejected", "conflict", "internal"];
var LIMITS = {
  /** `send.body`: at most this many bytes of UTF-8 (16 KiB). */
  maxBodyLength: 16384,
  /** `clientMsgId`: at most this many characters. */
  maxClientMsgIdLength: 64,
  /** A room id: at most this many characters. */
  maxRoomIdLength: 64,
  /** A room id matches this regular expression. */
  roomIdPattern: "^[A-Za-z0-9_.:-]{1,64}$",
  /** Rooms in one `sync` request. */
  maxSyncRooms: 50,
  /** `history.limit` at most. */
  maxHistoryLimit: 100
};

// ../typescript/src/errors.ts
var StarlingError = class extends Error {
  /** The error code: the server's, or the SDK's own. */
  code;
  /** The request's `action`, when known. */
  action;
  /** For `send`: the message's `clientMsgId`. */
  clientMsgId;
  /** For `rate_limited`: when the same request is admitted, in milliseconds. */
  retryAfterMs;
  /** For `rejected`: why moderation refused the message. Do not resend the same body. */
  reason;
  /** `true` when the SDK refused the request without sending it. */
  local;
  constructor(code, message2, init = {}) {
    super(message2);
    this.name = "StarlingError";
    this.code = code;
    this.action = init.action;
    this.clientMsgId = init.clientMsgId;
    this.retryAfterMs = init.retryAfterMs;
    this.reason = init.reason;
    this.local = init.local ?? false;
  }
};
function errorFromFrame(frame) {
  const code = ERROR_CODES.includes(frame.code) ? frame.code : "internal";
  const init = {};
  if (frame.action !== void 0) init.action = frame.action;
  if (frame.clientMsgId !== void 0) init.clientMsgId = frame.clientMsgId;
  if (frame.retryAfterMs !== void 0) init.retryAfterMs = frame.retryAfterMs;
  if (frame.reason !== void 0) init.reason = frame.reason;
  return new StarlingError(code, frame.message, init);
}
function isRetryable(code) {
  return code === "rate_limited" || code === "internal" || code === "timeout";
}

// ../typescript/src/requests.ts
var LinkLostError = class extends Error {
  constructor() {
    super("the connection closed before the reply came");
    this.name = "LinkLostError";
  }
};
var PendingRequests = class {
  #pending = [];
  /** How many requests wait. */
  get size() {
    return this.#pending.length;
  }
  /** Waits for the reply to `request` (already sent), matched by `matches`, for at most `timeoutMs`. */
  add(request, matches, timeoutMs) {
    return new Promise((resolve, reject) => {
      const entry = {
        request,
        matches,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#remove(entry);
          reject(new StarlingError("timeout", `no reply to ${request.action} within ${timeoutMs} ms`, { action: request.action }));
        }, timeoutMs)
      };
      this.#pending.push(entry);
    });
  }
  /** Settles the request `frame` answers; `false` when it answers none. */
  handle(frame) {
    if (frame.type === "error") return this.#refuse(frame);
    const entry = this.#pending.find((p) => p.matches(frame));
    if (entry === void 0) return false;
    this.#remove(entry);
    entry.resolve(frame);
    return true;
  }
  /** A frame without `type` (API Gateway's integration error): the oldest request failed with `internal`. */
  failOldest() {
    const entry = this.#pending[0];
    if (entry === void 0) return false;
    this.#remove(entry);
    entry.reject(new StarlingError("internal", "the server failed to handle the request", { action: entry.request.action }));
    return true;
  }
  /** Rejects every request with `error` (the link closed). */
  failAll(error) {
    for (const entry of this.#pending.splice(0)) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
  }
  #refuse(frame) {
    const entry = this.#pending.find((p) => p.request.action === frame.action);
    if (entry === void 0) return false;
    this.#remove(entry);
    entry.reject(errorFromFrame(frame));
    return true;
  }
  #remove(entry) {
    clearTimeout(entry.timer);
    const at = this.#pending.indexOf(entry);
    if (at >= 0) this.#pending.splice(at, 1);
  }
};

// ../typescript/src/session.ts
var Session = class {
  link;
  requests = new PendingRequests();
  /** Rooms this connection is subscribed to (their `joined` came on it). */
  joined = /* @__PURE__ */ new Set();
  /** Opened by a planned reconnect, while the previous connection still works. */
  planned;
  #syncs = [];
  #timers = /* @__PURE__ */ new Map();
  #drained;
  constructor(planned, makeLink) {
    this.planned = planned;
    this.link = makeLink(this);
  }
  /** Runs `fn` after `ms`, replacing the timer of the same name. */
  timer(name, ms, fn) {
    this.clearTimer(name);
    this.#timers.set(name, setTimeout(() => {
      this.#timers.delete(name);
      fn();
    }, ms));
  }
  /** Cancels the timer `name`. */
  clearTimer(name) {
    clearTimeout(this.#timers.get(name));
    this.#timers.delete(name);
  }
  /** Closes the connection (reported as closed at once). */
  end(code, reason) {
    this.link.close(code, reason);
  }
  /** The connection closed: fails its waiting requests with `error` and stops its timers. */
  closed(error) {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.requests.failAll(error);
  }
  /**
   * A newer connection took over: this one only finishes what it has out (`isIdle` tells when
   * nothing is), for at most `ms`, then closes.
   */
  drain(ms, isIdle) {
    for (const name of [...this.#timers.keys()]) this.clearTimer(name);
    this.#drained = isIdle;
    this.timer("drain", ms, () => this.end(1e3, "replaced by a newer connection"));
    this.maybeDrained();
  }
  /** Closes a draining connection once nothing is out on it. */
  maybeDrained() {
    if (this.#drained !== void 0 && this.requests.size === 0 && this.#drained()) this.end(1e3, "replaced by a newer connection");
  }
  /** Whether a `sync` sent on this connection waits for its `synced`s. */
  get syncing() {
    return this.#syncs.length > 0;
  }
  /** A `sync` of `rooms` went out on this connection. */
  syncSent(rooms) {
    this.#syncs.push(new Set(rooms));
  }
  /** The `synced` of `room` came. */
  syncDone(room) {
    const at = this.#syncs.findIndex((s) => s.has(room));
    if (at < 0) return;
    const set = this.#syncs[at];
    set?.delete(room);
    if (set?.size === 0) this.#syncs.splice(at, 1);
  }
  /**
   * An `error` answering a `sync`: a refused room's error starts with the room
   * (`"secret: join secret first"`); any other error failed the oldest request out.
   */
  syncFailed(message2) {
    for (const set of this.#syncs) {
      for (const room of set) {
        if (message2.startsWith(`${room}:`)) {
          this.syncDone(room);
          return { refusedRoom: room, rooms: [] };
        }
      }
    }
    return { rooms: [...this.#syncs.shift() ?? []] };
  }
};

// ../typescript/src/transport.ts
var nextLinkId = 1;
var Link = class {
  /** A number unique in this process, for logs and tests. */
  id = nextLinkId++;
  /** When the handshake completed (ms since the epoch), or `undefined` before. */
  openedAt;
  /** When the client last sent a frame on it (ms since the epoch). */
  lastSentAt = 0;
  /** Whether the SDK closed it (so its close code says nothing about the server's reasons). */
  closedByClient = false;
  #socket;
  #events;
  #done = false;
  constructor(WebSocketCtor, url, events) {
    this.#events = events;
    this.#socket = new WebSocketCtor(url);
    this.#socket.addEventListener("open", () => {
      if (this.#done) return;
      this.openedAt = Date.now();
      this.lastSentAt = this.openedAt;
      this.#events.open(this);
    });
    this.#socket.addEventListener("message", (event) => {
      if (this.#done || typeof event.data !== "string") return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (typeof frame === "object" && frame !== null && !Array.isArray(frame)) {
        this.#events.frame(this, frame);
      }
    });
    this.#socket.addEventListener("close", (event) => this.#finish(event.code, event.reason));
    this.#socket.addEventListener("error", () => {
      if (this.#done) return;
      this.#finish(1006, "error");
      try {
        this.#socket.close();
      } catch {
      }
    });
  }
  /** Whether the handshake completed and the link is not closed. */
  get open() {
    return this.openedAt !== void 0 && !this.#done;
  }
  /** Whether the link is closed (by either side). */
  get closed() {
    return this.#done;
  }
  /** Sends one request; `false` when the link is not open. */
  send(request) {
    if (!this.open) return false;
    try {
      this.#socket.send(JSON.stringify(request));
    } catch {
      return false;
    }
    this.lastSentAt = Date.now();
    return true;
  }
  /**
   * Closes the link and reports the close at once (with `code`), without waiting for the
   * server's close frame: the SDK treats the link as gone from now on.
   */
  close(code = 1e3, reason = "") {
    if (!this.#done) this.closedByClient = true;
    try {
      this.#socket.close(code, reason);
    } catch {
    }
    this.#finish(code, reason);
  }
  #finish(code, reason) {
    if (this.#done) return;
    this.#done = true;
    this.#events.close(this, code, reason);
  }
};

// ../typescript/src/connection.ts
var Connection = class {
  #url;
  #tokenProvider;
  #options;
  #hooks;
  #backoff;
  #draining = /* @__PURE__ */ new Set();
  #waiting = [];
  #state = "connecting";
  #user;
  #active;
  #candidate;
  #authFailed = false;
  #attempt = 0;
  #retryTimer;
  #onOnline = () => this.#retryNow();
  constructor(url, tokenProvider, options, hooks) {
    this.#url = url;
    this.#tokenProvider = tokenProvider;
    this.#options = options;
    this.#hooks = hooks;
    this.#backoff = new Backoff(options.backoff, options.random);
    options.network?.addEventListener("online", this.#onOnline);
    queueMicrotask(() => void this.#open("connect"));
  }
  get state() {
    return this.#state;
  }
  /** The `sub` of the last token. */
  get user() {
    return this.#user;
  }
  /** The connection in use, if any. */
  get active() {
    return this.#active;
  }
  /** A connection being set up (first connect, reconnect, or the new one of a planned reconnect). */
  get candidate() {
    return this.#candidate;
  }
  /** The current ceiling of the reconnect delay: a sensible wait before retrying anything. */
  retryDelayMs() {
    return this.#backoff.ceiling();
  }
  /** Resolves with the active session once connected. */
  whenActive() {
    if (this.#state === "disconnected") return Promise.reject(new StarlingError("closed", "the client is closed", { local: true }));
    if (this.#active !== void 0 && this.#state === "connected") return Promise.resolve(this.#active);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }
  /** Starts a planned reconnect now (make-before-break). */
  replace() {
    if (this.#state === "connected" && this.#candidate === void 0) void this.#open("planned");
  }
  /** Closes everything for good. */
  close() {
    if (this.#state === "disconnected") return;
    this.#setState("disconnected");
    clearTimeout(this.#retryTimer);
    this.#options.network?.removeEventListener("online", this.#onOnline);
    for (const s of [this.#active, this.#candidate, ...this.#draining]) s?.end(1e3, "client closed");
    this.#active = void 0;
    this.#candidate = void 0;
    const closed = new StarlingError("closed", "the client was closed", { local: true });
    for (const w of this.#waiting.splice(0)) w.reject(closed);
  }
  async #open(reason) {
    if (this.#isClosed()) return;
    let token;
    try {
      token = await this.#tokenProvider({ reason, forceRefresh: this.#authFailed, attempt: this.#attempt });
    } catch (error) {
      this.#hooks.error(new StarlingError("unauthorized", `the token provider failed: ${String(error)}`, { local: true }));
      return this.#retry(reason, true);
    }
    if (this.#isClosed()) return;
    this.#user = readClaims(token).sub ?? this.#user;
    const session = new Session(
      reason === "planned",
      (s) => new Link(this.#options.WebSocket, handshakeUrl(this.#url, token), {
        open: () => void this.#establish(s),
        frame: (_, frame) => this.#hooks.frame(s, frame),
        close: (link, code) => this.#onClose(s, code, link.openedAt === void 0, link.closedByClient)
      })
    );
    this.#candidate = session;
    session.timer("connect", this.#options.connectTimeoutMs, () => session.end(1e3, "connect timeout"));
  }
  async #establish(session) {
    await this.#hooks.prepare(session);
    if (session.link.closed || this.#isClosed()) return;
    session.clearTimer("connect");
    const previous = this.#active;
    this.#active = session;
    this.#candidate = void 0;
    this.#authFailed = false;
    this.#attempt = 0;
    session.timer("stable", this.#options.stableAfterMs, () => this.#backoff.reset());
    const lifetime = this.#options.plannedReconnectMs - this.#options.random() * this.#options.plannedReconnectJitterMs;
    session.timer("planned", lifetime, () => this.replace());
    this.#armHeartbeat(session);
    this.#setState("connected");
    for (const w of this.#waiting.splice(0)) w.resolve(session);
    this.#hooks.activated(session, previous);
    if (previous !== void 0) {
      this.#draining.add(previous);
      previous.drain(this.#options.drainMs, () => this.#hooks.drained(previous, session));
    }
  }
  /** Lets draining sessions that finished their work close now. */
  checkDrained() {
    for (const old of this.#draining) old.maybeDrained();
  }
  #onClose(session, code, beforeOpen, byClient) {
    session.closed(new LinkLostError());
    const wasActive = session === this.#active;
    const wasCandidate = session === this.#candidate;
    if (wasActive) this.#active = void 0;
    if (wasCandidate) this.#candidate = void 0;
    this.#draining.delete(session);
    this.#hooks.closed(session);
    if (this.#isClosed()) return;
    if (beforeOpen || !byClient && (code === 1008 || code >= 4e3 && code < 5e3)) this.#authFailed = true;
    if (wasCandidate) {
      this.#retry(session.planned && this.#active !== void 0 ? "planned" : "reconnect", true);
    } else if (wasActive) {
      this.#setState("reconnecting", code);
      this.#retry("reconnect", false);
    }
  }
  /** The next attempt after a backoff delay; `failed` counts a failed attempt (a drop does not). */
  #retry(reason, failed) {
    if (this.#isClosed()) return;
    if (failed) this.#attempt += 1;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (reason === "planned") this.replace();
      else if (this.#active === void 0 && this.#candidate === void 0) void this.#open(this.#state === "connecting" ? "connect" : "reconnect");
    }, this.#backoff.next());
  }
  /** The network is back: a reconnect waiting out its backoff delay starts now. */
  #retryNow() {
    if (this.#isClosed() || this.#active !== void 0 || this.#candidate !== void 0) return;
    clearTimeout(this.#retryTimer);
    void this.#open(this.#state === "connecting" ? "connect" : "reconnect");
  }
  /** A `ping` when the client sent nothing for a heartbeat interval; no `pong` in time ends the connection. */
  #armHeartbeat(session) {
    const due = session.link.lastSentAt + this.#options.heartbeatIntervalMs - Date.now();
    session.timer("heartbeat", Math.max(0, due), () => {
      if (session !== this.#active) return;
      if (Date.now() - session.link.lastSentAt >= this.#options.heartbeatIntervalMs) {
        const ping = { action: "ping" };
        const pong = session.requests.add(ping, (f) => f.type === "pong", this.#options.heartbeatTimeoutMs);
        session.link.send(ping);
        pong.catch((error) => {
          if (error instanceof StarlingError && error.code === "timeout") session.end(1e3, "no pong");
        });
      }
      this.#armHeartbeat(session);
    });
  }
  #setState(state, code) {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    this.#hooks.state(code === void 0 ? { state, previous } : { state, previous, code });
  }
  /** A method, so TypeScript does not narrow the state across an `await`. */
  #isClosed() {
    return this.#state === "disconnected";
  }
};

// ../typescript/src/events.ts
var Emitter = class {
  #listeners = /* @__PURE__ */ new Map();
  #onListenerError;
  constructor(onListenerError = (e) => queueMicrotask(() => {
    throw e;
  })) {
    this.#onListenerError = onListenerError;
  }
  /** Calls `listener` on every `event`; returns a function that removes it. */
  on(event, listener) {
    let set = this.#listeners.get(event);
    if (set === void 0) {
      set = /* @__PURE__ */ new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }
  /** Calls `listener` on the next `event` only. */
  once(event, listener) {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }
  /** Removes `listener`. */
  off(event, listener) {
    this.#listeners.get(event)?.delete(listener);
  }
  /** Calls every listener of `event` with `payload`. */
  emit(event, payload) {
    const set = this.#listeners.get(event);
    if (set === void 0) return;
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
  /** How many listeners `event` has. */
  listenerCount(event) {
    return this.#listeners.get(event)?.size ?? 0;
  }
};

// ../typescript/src/options.ts
function resolveOptions(options, defaultStore) {
  const WebSocketCtor = options.WebSocket ?? globalThis.WebSocket;
  if (WebSocketCtor === void 0) {
    throw new Error("no WebSocket here: use Node ≥ 22 (or node --experimental-websocket on Node 20), a browser, or pass options.WebSocket");
  }
  const resolved = {
    WebSocket: WebSocketCtor,
    store: options.store ?? defaultStore(),
    backoff: options.backoff ?? {},
    stableAfterMs: options.stableAfterMs ?? 1e4,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 3e5,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 3e4,
    connectTimeoutMs: options.connectTimeoutMs ?? 15e3,
    requestTimeoutMs: options.requestTimeoutMs ?? 3e4,
    plannedReconnectMs: options.plannedReconnectMs ?? 66e5,
    plannedReconnectJitterMs: options.plannedReconnectJitterMs ?? 3e5,
    drainMs: options.drainMs ?? 5e3,
    maxSendAttempts: options.maxSendAttempts ?? 10,
    gapHistoryLimit: options.gapHistoryLimit ?? 50,
    random: options.random ?? Math.random,
    network: options.network === void 0 ? browserNetwork() : options.network
  };
  if (resolved.heartbeatIntervalMs >= 6e5) throw new RangeError("heartbeatIntervalMs must be under API Gateway's 10-minute idle timeout");
  if (resolved.plannedReconnectMs >= 72e5) throw new RangeError("plannedReconnectMs must be under API Gateway's 2-hour connection limit");
  if (resolved.plannedReconnectJitterMs > resolved.plannedReconnectMs) throw new RangeError("plannedReconnectJitterMs exceeds plannedReconnectMs");
  if (resolved.gapHistoryLimit < 1 || resolved.gapHistoryLimit > 100) throw new RangeError("gapHistoryLimit is 1–100");
  return resolved;
}
function browserNetwork() {
  const g = globalThis;
  return typeof g.addEventListener === "function" && typeof g.removeEventListener === "function" ? globalThis : null;
}

// ../typescript/src/outbox.ts
var Outbox = class {
  #entries = [];
  #maxAttempts;
  /** @param maxAttempts sends of one message refused with a retryable code before its promise rejects. */
  constructor(maxAttempts) {
    this.#maxAttempts = maxAttempts;
  }
  /** Messages not yet accepted. */
  get size() {
    return this.#entries.length;
  }
  /** The messages not yet accepted, oldest first (read-only views). */
  pending() {
    return this.#entries.map(({ room, body, clientMsgId, attempts }) => ({ room, body, clientMsgId, attempts }));
  }
  /** Queues a message (with `extra` fields for the request); the promise settles when it is accepted or finally refused. */
  enqueue(room, body, clientMsgId, extra) {
    return new Promise((resolve, reject) => {
      this.#entries.push({ room, body, clientMsgId, extra, attempts: 0, inflight: void 0, notBefore: 0, resolve, reject });
    });
  }
  /** Rooms with messages waiting. */
  rooms() {
    return new Set(this.#entries.map((e) => e.room));
  }
  /**
   * The room's next message to send now, or `undefined`: when one is already out, or the
   * oldest must wait (`notBefore`). Returns the wait as `retryAt` through {@link nextRetryAt}.
   */
  next(room, now) {
    const head = this.#entries.find((e) => e.room === room);
    if (head === void 0 || head.inflight !== void 0 || head.notBefore > now) return void 0;
    return head;
  }
  /** The earliest `notBefore` in the future, to wake up for. */
  nextRetryAt(now) {
    let at;
    for (const e of this.#entries) if (e.inflight === void 0 && e.notBefore > now && (at === void 0 || e.notBefore < at)) at = e.notBefore;
    return at;
  }
  /** The request for `entry`, marked as out on `link`. */
  sent(entry, link) {
    entry.inflight = link;
    entry.attempts += 1;
    return { ...entry.extra, action: "send", room: entry.room, body: entry.body, clientMsgId: entry.clientMsgId };
  }
  /** An `accepted` frame: resolves its message. `false` when none waits for it. */
  accepted(frame) {
    const entry = this.#entries.find((e) => e.clientMsgId === frame.clientMsgId && e.room === frame.room && e.inflight !== void 0);
    if (entry === void 0) return false;
    this.#remove(entry);
    entry.resolve({ room: entry.room, clientMsgId: entry.clientMsgId, id: frame.id, attempts: entry.attempts });
    return true;
  }
  /**
   * An `error` for a send out on `link`, matched by `clientMsgId` (or, when the server left it
   * out, the oldest one out). Retryable codes queue it again after `retryAfterMs` (or
   * `fallbackDelayMs`), up to the attempt limit; any other code rejects it.
   */
  refused(error, link, now, fallbackDelayMs) {
    const out = this.#entries.filter((e) => e.inflight === link);
    const entry = out.find((e) => e.clientMsgId === error.clientMsgId) ?? (error.clientMsgId === void 0 ? out[0] : void 0);
    if (entry === void 0) return void 0;
    entry.inflight = void 0;
    if (isRetryable(error.code) && entry.attempts < this.#maxAttempts) {
      entry.notBefore = now + (error.retryAfterMs ?? fallbackDelayMs);
      return { room: entry.room, retryAt: entry.notBefore };
    }
    this.#remove(entry);
    const rejected = new StarlingError(error.code, error.message, {
      action: "send",
      clientMsgId: entry.clientMsgId,
      ...error.retryAfterMs === void 0 ? {} : { retryAfterMs: error.retryAfterMs },
      ...error.reason === void 0 ? {} : { reason: error.reason }
    });
    entry.reject(rejected);
    return { room: entry.room, rejected };
  }
  /** The oldest message out on `link`, if any (to fail on a frame without `type`). */
  oldestInflight(link) {
    return this.#entries.find((e) => e.inflight === link);
  }
  /** `link` closed: its messages out are queued again, to be resent on the next link. */
  linkLost(link) {
    for (const e of this.#entries) if (e.inflight === link) e.inflight = void 0;
  }
  /** Rejects every message (the client was closed, or the room left). */
  rejectAll(error, room) {
    for (const entry of [...this.#entries]) {
      if (room !== void 0 && entry.room !== room) continue;
      this.#remove(entry);
      entry.reject(new StarlingError(error.code, error.message, { action: "send", clientMsgId: entry.clientMsgId, local: error.local }));
    }
  }
  #remove(entry) {
    const at = this.#entries.indexOf(entry);
    if (at >= 0) this.#entries.splice(at, 1);
  }
};

// ../typescript/src/room.ts
var SeqTracker = class {
  #delivered;
  #pending = /* @__PURE__ */ new Map();
  /** @param delivered every seq up to this one the application already has (0: none). */
  constructor(delivered) {
    this.#delivered = delivered;
  }
  /** The highest seq handed over, with every seq below it handed over or gone. */
  get delivered() {
    return this.#delivered;
  }
  /** Whether messages wait behind a gap, which a `sync` from {@link delivered} fills. */
  get hasGap() {
    return this.#pending.size > 0;
  }
  /** Takes one message, live or synced; returns the messages now deliverable, in seq order. */
  offer(message2) {
    if (message2.seq > this.#delivered && !this.#pending.has(message2.seq)) {
      this.#pending.set(message2.seq, message2);
    }
    return this.#drain();
  }
  /**
   * A `synced` with this `lastSeq`: every retained message up to it was sent before, so a seq up
   * to `lastSeq` still missing is gone. Hands over what waits up to there (and whatever follows
   * without a gap), and moves past the gap.
   */
  settle(lastSeq) {
    const out = [];
    for (const seq of [...this.#pending.keys()].sort((a, b) => a - b)) {
      if (seq > lastSeq) break;
      const message2 = this.#pending.get(seq);
      this.#pending.delete(seq);
      if (message2 !== void 0 && seq > this.#delivered) {
        this.#delivered = seq;
        out.push(message2);
      }
    }
    this.#delivered = Math.max(this.#delivered, lastSeq);
    out.push(...this.#drain());
    return out;
  }
  /**
   * Jumps to `seq` without handing anything over: the seqs up to it are skipped (the
   * application can page back through them with `history`). Waiting messages at or below it
   * are dropped.
   */
  skipTo(seq) {
    if (seq <= this.#delivered) return;
    for (const pending of [...this.#pending.keys()]) if (pending <= seq) this.#pending.delete(pending);
    this.#delivered = seq;
  }
  #drain() {
    const out = [];
    for (; ; ) {
      const next = this.#pending.get(this.#delivered + 1);
      if (next === void 0) break;
      this.#pending.delete(next.seq);
      this.#delivered = next.seq;
      out.push(next);
    }
    return out;
  }
};

// ../typescript/src/inbox.ts
var Inbox = class {
  #rooms = /* @__PURE__ */ new Map();
  /** Tracks `room`, of which the application has every seq up to `delivered`; a tracked room keeps its state. */
  track(room, delivered) {
    if (!this.#rooms.has(room)) {
      this.#rooms.set(room, { tracker: new SeqTracker(delivered), syncing: false, wanted: false, resetting: void 0 });
    }
  }
  /** Stops tracking `room` (after `leave`). */
  untrack(room) {
    this.#rooms.delete(room);
  }
  /** Whether `room` is tracked. */
  has(room) {
    return this.#rooms.has(room);
  }
  /** The room's delivered seq, when tracked. */
  delivered(room) {
    return this.#rooms.get(room)?.tracker.delivered;
  }
  /** Whether any room waits for a `synced` or a `history` reset. */
  get busy() {
    for (const r of this.#rooms.values()) if (r.syncing || r.resetting !== void 0) return true;
    return false;
  }
  /**
   * After a (re)connect and the `join`s: `sync` every tracked room (of `rooms`, when given)
   * from its delivered seq. Syncs sent on an earlier connection are forgotten: their frames
   * are lost with it.
   */
  beginSync(rooms) {
    const only = rooms === void 0 ? void 0 : new Set(rooms);
    for (const [name, r] of this.#rooms) {
      if (only !== void 0 && !only.has(name)) continue;
      r.syncing = false;
      r.resetting = void 0;
      r.wanted = true;
    }
    return this.nextSyncs();
  }
  /** The `sync` requests (at most 50 rooms each) of the rooms that want one and have none out. */
  nextSyncs() {
    const requests = [];
    let rooms = {};
    let count = 0;
    for (const [name, r] of this.#rooms) {
      if (!r.wanted || r.syncing || r.resetting !== void 0) continue;
      r.wanted = false;
      r.syncing = true;
      rooms[name] = r.tracker.delivered;
      count += 1;
      if (count === LIMITS.maxSyncRooms) {
        requests.push({ action: "sync", rooms, pages: true });
        rooms = {};
        count = 0;
      }
    }
    if (count > 0) requests.push({ action: "sync", rooms, pages: true });
    return requests;
  }
  /** Messages of `room`, live or from a `syncPage`; returns those to hand over now. */
  offer(room, messages) {
    const r = this.#rooms.get(room);
    if (r === void 0) return [];
    const out = [];
    for (const m of messages) if (m.room === room) out.push(...r.tracker.offer(m));
    if (r.tracker.hasGap && !r.syncing && r.resetting === void 0) r.wanted = true;
    return out;
  }
  /** A `synced` frame: settles the room up to its `lastSeq` (§7 steps 4 and 5). */
  onSynced(frame) {
    const r = this.#rooms.get(frame.room);
    if (r === void 0 || !r.syncing) return { deliver: [] };
    r.syncing = false;
    if (!frame.recovered) {
      r.resetting = frame.lastSeq;
      return { deliver: [], needHistory: frame.room };
    }
    const before = r.tracker.delivered;
    const deliver = r.tracker.settle(frame.lastSeq);
    r.wanted ||= frame.hasMore === true || r.tracker.hasGap;
    const step = { deliver };
    const gap = firstHole(frame.room, before, deliver) ?? trailingHole(frame.room, before, r.tracker.delivered, deliver);
    if (gap !== void 0) step.gap = gap;
    return step;
  }
  /**
   * The newest `history` page of a room whose sync answered `recovered:false`: hands over the
   * page (and whatever waits after it) and skips the seqs before it, which are returned as the
   * {@link Gap}; the application can page back through the retained ones with `history`.
   * `page` undefined means the history request failed: the room settles as `synced` said.
   */
  resetFromHistory(room, page) {
    const r = this.#rooms.get(room);
    if (r === void 0 || r.resetting === void 0) return { deliver: [] };
    const lastSeq = r.resetting;
    r.resetting = void 0;
    const before = r.tracker.delivered;
    const first = page?.[0];
    const deliver = [];
    if (first === void 0) {
      deliver.push(...r.tracker.settle(lastSeq));
    } else {
      r.tracker.skipTo(first.seq - 1);
      for (const m of page ?? []) deliver.push(...r.tracker.offer(m));
    }
    r.wanted ||= r.tracker.hasGap;
    const step = { deliver };
    const gap = firstHole(room, before, deliver) ?? trailingHole(room, before, r.tracker.delivered, deliver);
    if (gap !== void 0) step.gap = gap;
    return step;
  }
  /** A room's sync was refused (an `error` naming it): it is not retried. */
  syncRefused(room) {
    const r = this.#rooms.get(room);
    if (r !== void 0) r.syncing = false;
  }
  /** A whole `sync` request failed (`rate_limited`, `internal`, a timeout): its rooms want another. */
  syncFailed(rooms) {
    for (const name of rooms) {
      const r = this.#rooms.get(name);
      if (r !== void 0 && r.syncing) {
        r.syncing = false;
        r.wanted = true;
      }
    }
  }
};
function firstHole(room, before, deliver) {
  const first = deliver[0];
  if (first === void 0 || first.seq === before + 1) return void 0;
  return { room, fromSeq: before + 1, toSeq: first.seq - 1 };
}
function trailingHole(room, before, after, deliver) {
  if (deliver.length > 0 || after <= before) return void 0;
  return { room, fromSeq: before + 1, toSeq: after };
}

// ../typescript/src/resume.ts
var Resume = class {
  #inbox = new Inbox();
  #early = /* @__PURE__ */ new Map();
  #store;
  #gapHistoryLimit;
  #host;
  constructor(store, gapHistoryLimit, host) {
    this.#store = store;
    this.#gapHistoryLimit = gapHistoryLimit;
    this.#host = host;
  }
  /** Whether the room's start seq is known (it was joined once). */
  has(room) {
    return this.#inbox.has(room);
  }
  /** The room's last seq handed to the application. */
  delivered(room) {
    return this.#inbox.delivered(room);
  }
  /** The room's first `joined`: messages after `seq` are the application's, starting with those that came early. */
  start(room, seq) {
    if (this.#inbox.has(room)) return;
    this.#inbox.track(room, seq);
    const early = this.#early.get(room) ?? [];
    this.#early.delete(room);
    this.#deliver(this.#inbox.offer(room, early));
  }
  /** The room was left: its state is dropped. */
  forget(room) {
    this.#inbox.untrack(room);
    this.#early.delete(room);
  }
  /** Messages of `room`, live or from a `syncPage`, on any connection. `wanted`: the app joined the room. */
  offer(room, messages, wanted) {
    if (this.#inbox.has(room)) {
      this.#deliver(this.#inbox.offer(room, messages));
      this.sendNext();
    } else if (wanted) {
      this.#early.set(room, [...this.#early.get(room) ?? [], ...messages]);
    }
  }
  /** A connection took over, or joined `rooms` anew: sync them from their delivered seqs. */
  begin(session, rooms) {
    this.#send(session, this.#inbox.beginSync(rooms));
  }
  /** A `synced` on the connection in use. */
  onSynced(session, frame) {
    session.syncDone(frame.room);
    this.#apply(this.#inbox.onSynced(frame));
    this.sendNext();
  }
  /** An `error` answering a `sync`: one room refused, or the whole request failed (retried later). */
  onSyncError(session, frame, error) {
    const failed = session.syncFailed(frame.message);
    this.#host.error(error);
    if (failed.refusedRoom !== void 0) {
      this.#inbox.syncRefused(failed.refusedRoom);
      return;
    }
    this.#inbox.syncFailed(failed.rooms);
    setTimeout(() => this.sendNext(), error.retryAfterMs ?? this.#host.retryDelayMs());
  }
  /** Sends the `sync`s the procedure wants now, on the connection in use. */
  sendNext() {
    const session = this.#host.active();
    if (session !== void 0) this.#send(session, this.#inbox.nextSyncs());
  }
  #send(session, requests) {
    for (const request of requests) {
      const rooms = Object.keys(request.rooms);
      if (session === this.#host.active() && session.link.send(request)) session.syncSent(rooms);
      else this.#inbox.syncFailed(rooms);
    }
  }
  #apply(step) {
    this.#deliver(step.deliver);
    if (step.gap !== void 0) this.#host.gap(step.gap);
    if (step.needHistory !== void 0) void this.#resetFromHistory(step.needHistory);
  }
  async #resetFromHistory(room) {
    let page;
    try {
      page = await this.#host.history(room, this.#gapHistoryLimit);
    } catch {
      page = void 0;
    }
    const step = this.#inbox.resetFromHistory(room, page);
    if (step.gap !== void 0) this.#host.gap(step.gap);
    this.#deliver(step.deliver);
    this.sendNext();
  }
  #deliver(messages) {
    const rooms = /* @__PURE__ */ new Set();
    for (const m of messages) {
      rooms.add(m.room);
      this.#host.deliver(m);
    }
    for (const room of rooms) {
      const seq = this.#inbox.delivered(room);
      if (seq === void 0) continue;
      Promise.resolve(this.#store.set(room, seq)).catch((e) => this.#host.error(new StarlingError("internal", `the seq store failed: ${String(e)}`, { local: true })));
    }
  }
};

// ../typescript/src/rooms.ts
var Rooms = class {
  #wants = /* @__PURE__ */ new Map();
  #store;
  #maxAttempts;
  #host;
  constructor(store, maxAttempts, host) {
    this.#store = store;
    this.#maxAttempts = maxAttempts;
    this.#host = host;
  }
  /** Whether the application joined `room` (and has not left it). */
  has(room) {
    return this.#wants.has(room);
  }
  /** The rooms joined. */
  names() {
    return [...this.#wants.keys()];
  }
  /** Joins `room` (from `since`, when given) and resolves once joined on the active connection. */
  join(room, since) {
    let want = this.#wants.get(room);
    if (want === void 0) {
      want = { start: since ?? this.#readStore(room), waiters: [], lastJoined: void 0 };
      this.#wants.set(room, want);
    }
    const active = this.#host.active();
    if (active?.joined.has(room) === true && want.lastJoined !== void 0) return Promise.resolve(this.#result(want.lastJoined));
    const target = want;
    const joined = new Promise((resolve, reject) => target.waiters.push({ resolve, reject }));
    for (const session of [active, this.#host.candidate()]) if (session?.link.open === true) void this.joinOn(session, room);
    return joined;
  }
  /** Forgets `room`; whoever waits for its join gets `error`. */
  remove(room, error) {
    const waiters = this.#wants.get(room)?.waiters.splice(0) ?? [];
    this.#wants.delete(room);
    for (const w of waiters) w.reject(error);
  }
  /** Rejects every waiting join (the client was closed). */
  rejectAll(error) {
    for (const want of this.#wants.values()) for (const w of want.waiters.splice(0)) w.reject(error);
  }
  /** Joins every room on a new connection, rooms joined by the application meanwhile included. */
  async joinAll(session) {
    const tried = /* @__PURE__ */ new Set();
    for (; ; ) {
      const missing = this.names().filter((room) => !session.joined.has(room) && !tried.has(room));
      if (missing.length === 0 || session.link.closed) return;
      for (const room of missing) tried.add(room);
      await Promise.all(missing.map((room) => this.joinOn(session, room)));
    }
  }
  /** Joins `room` on `session`, retrying `rate_limited` and `internal`. */
  async joinOn(session, room) {
    for (let attempt = 1; ; attempt++) {
      if (session.link.closed || !this.#wants.has(room)) return;
      try {
        const frame = await this.#host.ask(session, { action: "join", room }, (f) => f.type === "joined" && f.room === room);
        return await this.#joined(session, frame);
      } catch (error) {
        if (!(error instanceof StarlingError)) return;
        if (error.code === "timeout") return session.end(1e3, "join timed out");
        if ((error.code === "rate_limited" || error.code === "internal") && attempt < this.#maxAttempts) {
          await new Promise((r) => setTimeout(r, error.retryAfterMs ?? this.#host.retryDelayMs()));
          continue;
        }
        const waited = (this.#wants.get(room)?.waiters.length ?? 0) > 0;
        this.remove(room, error);
        this.#host.gaveUp(room, error);
        if (!waited) this.#host.error(error);
        return;
      }
    }
  }
  /** `session` became the active connection: the joins made on it resolve. */
  activated(session) {
    for (const room of session.joined) this.#resolve(room);
  }
  async #joined(session, frame) {
    const want = this.#wants.get(frame.room);
    if (want === void 0) return;
    const start2 = await want.start;
    if (this.#wants.get(frame.room) !== want) return;
    want.lastJoined = frame;
    session.joined.add(frame.room);
    this.#host.start(frame.room, start2 ?? frame.lastSeq);
    if (session === this.#host.active()) {
      this.#resolve(frame.room);
      this.#host.ready(session, frame.room);
    }
  }
  /** The room's stored seq; a store that fails is reported, and the room starts as if it had none. */
  #readStore(room) {
    const failed = (e) => {
      this.#host.error(new StarlingError("internal", `the seq store failed: ${String(e)}`, { local: true }));
      return void 0;
    };
    try {
      const stored = this.#store.get(room);
      return stored instanceof Promise ? stored.catch(failed) : stored;
    } catch (e) {
      return failed(e);
    }
  }
  #resolve(room) {
    const want = this.#wants.get(room);
    if (want?.lastJoined === void 0) return;
    const result = this.#result(want.lastJoined);
    for (const w of want.waiters.splice(0)) w.resolve(result);
  }
  #result(frame) {
    return { room: frame.room, lastSeq: frame.lastSeq, delivered: this.#host.delivered(frame.room) ?? frame.lastSeq };
  }
};

// ../typescript/src/store.ts
var MemoryStore = class {
  #seqs = /* @__PURE__ */ new Map();
  get(room) {
    return this.#seqs.get(room);
  }
  set(room, seq) {
    this.#seqs.set(room, seq);
  }
  delete(room) {
    this.#seqs.delete(room);
  }
};
var LocalStorageStore = class {
  #storage;
  #prefix;
  /**
   * @param prefix key prefix, default `starling:seq:`.
   * @param storage default `globalThis.localStorage`.
   */
  constructor(prefix = "starling:seq:", storage) {
    const found = storage ?? globalThis.localStorage;
    if (found === void 0) throw new Error("LocalStorageStore: no localStorage here; pass a storage");
    this.#storage = found;
    this.#prefix = prefix;
  }
  get(room) {
    const raw = this.#storage.getItem(this.#prefix + room);
    if (raw === null) return void 0;
    const seq = Number(raw);
    return Number.isSafeInteger(seq) && seq >= 0 ? seq : void 0;
  }
  set(room, seq) {
    this.#storage.setItem(this.#prefix + room, String(seq));
  }
  delete(room) {
    this.#storage.removeItem(this.#prefix + room);
  }
};

// ../typescript/src/validate.ts
var roomPattern = new RegExp(LIMITS.roomIdPattern);
var encoder = new TextEncoder();
function checkRoom(room, action) {
  if (typeof room !== "string" || !roomPattern.test(room)) {
    throw new StarlingError("bad_request", `${JSON.stringify(room)} is not a room id: 1–${LIMITS.maxRoomIdLength} of A-Z a-z 0-9 _ . : -`, { action, local: true });
  }
}
function checkBody(body, clientMsgId) {
  if (typeof body !== "string" || body.length === 0) {
    throw new StarlingError("bad_request", "a message body must be a non-empty string", { action: "send", clientMsgId, local: true });
  }
  const bytes = encoder.encode(body).length;
  if (bytes > LIMITS.maxBodyLength) {
    throw new StarlingError("too_large", `the body is ${bytes} bytes of UTF-8; the server takes at most ${LIMITS.maxBodyLength}`, { action: "send", clientMsgId, local: true });
  }
}
function checkClientMsgId(clientMsgId) {
  const length = typeof clientMsgId === "string" ? [...clientMsgId].length : 0;
  if (length < 1 || length > LIMITS.maxClientMsgIdLength) {
    throw new StarlingError("bad_request", `a clientMsgId is 1–${LIMITS.maxClientMsgIdLength} characters`, { action: "send", local: true });
  }
}
function newClientMsgId() {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === "function") return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] ?? 0) & 15 | 64;
  b[8] = (b[8] ?? 0) & 63 | 128;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ../typescript/src/client.ts
var StarlingClient = class {
  /** The WebSocket URL without the token, e.g. `wss://…/prod`. */
  url;
  #options;
  #events = new Emitter();
  #outbox;
  #resume;
  #connection;
  #rooms;
  #presenceVersions = /* @__PURE__ */ new Map();
  #taps = /* @__PURE__ */ new Set();
  #flushTimer;
  /** Use {@link connect}. */
  constructor(url, tokenProvider, options = {}) {
    this.url = url;
    this.#options = resolveOptions(options, () => new MemoryStore());
    this.#outbox = new Outbox(this.#options.maxSendAttempts);
    this.#resume = new Resume(this.#options.store, this.#options.gapHistoryLimit, {
      active: () => this.#connection.active,
      deliver: (m) => this.#events.emit("message", m),
      gap: (g) => this.#events.emit("gap", g),
      error: (e) => this.#emitError(e),
      history: async (room, limit) => (await this.history(room, { limit })).messages,
      retryDelayMs: () => this.#connection.retryDelayMs()
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
      error: (e) => this.#emitError(e)
    });
    this.#connection = new Connection(url, tokenProvider, this.#options, {
      prepare: (session) => this.#rooms.joinAll(session),
      activated: (session) => this.#activated(session),
      drained: (previous, successor) => this.#outbox.oldestInflight(previous.link.id) === void 0 && !successor.syncing,
      frame: (session, frame) => this.#onFrame(session, frame),
      closed: (session) => {
        this.#outbox.linkLost(session.link.id);
        this.#flushAll();
      },
      state: (change) => this.#events.emit("state", change),
      error: (e) => this.#emitError(e)
    });
    INTERNALS.set(this, {
      request: (request, matches) => this.#request(request, matches),
      send: (room, body, clientMsgId, extra) => this.#send(room, body, clientMsgId, extra),
      tap: (listener) => {
        this.#taps.add(listener);
        return () => this.#taps.delete(listener);
      }
    });
  }
  /** The connection state: `connecting`, `connected`, `reconnecting` or `disconnected` (closed by the app). */
  get state() {
    return this.#connection.state;
  }
  /** The user id (`sub`) of the last token, when it is a readable JWT. */
  get user() {
    return this.#connection.user;
  }
  /** The rooms joined (or being joined). */
  get rooms() {
    return this.#rooms.names();
  }
  /** Messages sent but not yet accepted by the server. */
  get outboxSize() {
    return this.#outbox.size;
  }
  /** The room's last seq handed to the application, once the room was joined. */
  lastSeq(room) {
    return this.#resume.delivered(room);
  }
  /** Calls `listener` on every `event`; returns a function that removes it. */
  on(event, listener) {
    return this.#events.on(event, listener);
  }
  /** Calls `listener` on the next `event` only; returns a function that removes it. */
  once(event, listener) {
    return this.#events.once(event, listener);
  }
  /** Removes `listener`. */
  off(event, listener) {
    this.#events.off(event, listener);
  }
  /** Resolves once the client is connected (at once if it is); rejects with `closed` if it is closed first. */
  async connected() {
    await this.#connection.whenActive();
  }
  /**
   * Joins `room`, now and after every reconnect, and resolves once it is joined. Messages after
   * `since` (default: the store's seq for the room, else the room's last seq at the first join)
   * arrive as `message` events, once and in order. Rejects with the server's code (`forbidden`
   * for a DM room of others or beyond the room limit, `bad_request` for a malformed id).
   */
  async join(room, options = {}) {
    checkRoom(room, "join");
    return this.#rooms.join(room, options.since);
  }
  /**
   * Leaves `room`: ends the subscription and the user's membership (on all of the user's
   * devices), forgets the room's seq, and rejects its queued sends. While offline it waits for
   * the connection, since only the server can end the membership.
   */
  async leave(room) {
    checkRoom(room, "leave");
    this.#rooms.remove(room, new StarlingError("not_found", `left ${room}`, { action: "join", local: true }));
    this.#resume.forget(room);
    await this.#options.store.delete?.(room);
    this.#outbox.rejectAll(new StarlingError("forbidden", `left ${room} before the message was accepted`, { local: true }), room);
    const active = this.#connection.active;
    if (active?.joined.has(room) === true) {
      active.joined.delete(room);
    } else {
      await this.#request({ action: "join", room }, (f) => f.type === "joined" && f.room === room);
    }
    await this.#request({ action: "leave", room }, (f) => f.type === "left" && f.room === room);
  }
  /**
   * Sends `body` to `room` (joined with {@link join}). While disconnected the message waits in
   * the outbox; it is sent, and resent after a reconnect, with the same `clientMsgId` until the
   * server accepts it, and the promise resolves then (`accepted` means queued: the `message`
   * event carrying this `clientMsgId` confirms it was stored). `rate_limited` and `internal` are
   * retried. It rejects with a {@link StarlingError} carrying the server's code, or at once
   * (`local: true`) for a body the server would refuse.
   */
  send(room, body, options = {}) {
    return this.#send(room, body, options.clientMsgId ?? newClientMsgId(), void 0);
  }
  #send(room, body, clientMsgId, extra) {
    try {
      checkRoom(room, "send");
      checkClientMsgId(clientMsgId);
      checkBody(body, clientMsgId);
      if (!this.#rooms.has(room)) throw new StarlingError("forbidden", `join ${room} first`, { action: "send", clientMsgId, local: true });
      if (this.state === "disconnected") throw new StarlingError("closed", "the client is closed", { action: "send", clientMsgId, local: true });
    } catch (error) {
      return Promise.reject(error);
    }
    const receipt = this.#outbox.enqueue(room, body, clientMsgId, extra);
    this.#flush(room);
    return receipt;
  }
  /** One page of `room`'s stored messages, newest page first, ascending in the page. Page back with `before` = the page's first seq while `hasMore`. */
  async history(room, options = {}) {
    checkRoom(room, "history");
    const frame = await this.#request({ action: "history", room, ...options }, (f) => f.type === "history" && f.room === room);
    return { room, messages: frame.messages, hasMore: frame.hasMore };
  }
  /** One page of `room`'s members; pass the page's `cursor` for the next one while `hasMore`. */
  async presence(room, options = {}) {
    checkRoom(room, "presence");
    const frame = await this.#request({ action: "presence", room, ...options }, (f) => f.type === "presence" && f.room === room);
    for (const m of frame.members) this.#notePresence(m.user, m.version);
    const page = { room, members: frame.members, hasMore: frame.hasMore };
    if (frame.cursor !== void 0) page.cursor = frame.cursor;
    return page;
  }
  /** `room`'s activity per UTC minute over the last `minutes` (1–1440, default 60): messages, senders, deliveries, oldest first, and totals. Members only. */
  async stats(room, options = {}) {
    checkRoom(room, "stats");
    const frame = await this.#request({ action: "stats", room, ...options }, (f) => f.type === "stats" && f.room === room);
    return { room, minutes: frame.minutes, totals: frame.totals, hasMore: frame.hasMore === true };
  }
  /** Sets the user's status for all of their devices; resolves with the server's announcement. */
  async setStatus(status) {
    const mine = (f) => f.type === "presenceChanged" && f.status === status && (this.user === void 0 || f.user === this.user);
    return presenceUpdate(await this.#request({ action: "status", status }, mine));
  }
  /** Moves the user's read cursor in `room` forward to `seq`; resolves with the stored cursor (which never moves back). */
  async markRead(room, seq) {
    checkRoom(room, "read");
    const mine = (f) => f.type === "read" && f.room === room && (this.user === void 0 || f.user === this.user);
    return (await this.#request({ action: "read", room, seq }, mine)).seq;
  }
  /** Tells `room` the user is typing (no reply; the server passes one per 2 s). `false` when not connected or not joined. For a throttle, see {@link TypingThrottle}. */
  typing(room) {
    const active = this.#connection.active;
    if (active === void 0 || !active.joined.has(room)) return false;
    return active.link.send({ action: "typing", room });
  }
  /** Sends `ping` and resolves on `pong`. The SDK pings by itself; this is for apps that want a round trip. */
  async ping() {
    await this.#request({ action: "ping" }, (f) => f.type === "pong");
  }
  /** Replaces the connection now, make-before-break, as the planned reconnect does before API Gateway's 2-hour limit. */
  reconnect() {
    this.#connection.replace();
  }
  /** Drops the connection abruptly, as a network failure would; the client reconnects as after any drop. For tests and demos. */
  dropConnection() {
    this.#connection.active?.link.close(4999, "dropped on purpose");
  }
  /** Closes the client for good: state `disconnected`; queued sends and waiting requests reject with `closed`. */
  close() {
    if (this.state === "disconnected") return;
    this.#connection.close();
    clearTimeout(this.#flushTimer);
    const closed = new StarlingError("closed", "the client was closed", { local: true });
    this.#outbox.rejectAll(closed);
    this.#rooms.rejectAll(closed);
  }
  /** The new connection took over: joins resolve, rooms sync, the outbox goes out. */
  #activated(session) {
    this.#rooms.activated(session);
    this.#resume.begin(session, session.joined);
    this.#flushAll();
  }
  // --- frames ---------------------------------------------------------------------------
  #onFrame(session, raw) {
    if (this.#tapped(raw)) return this.#connection.checkDrained();
    if (typeof raw.type !== "string") this.#onGatewayError(session);
    else this.#dispatch(session, raw);
    this.#connection.checkDrained();
  }
  /** Whether a tap (the e2e layer) took the frame: a `welcome`, or the `conflict` of its Commit. */
  #tapped(raw) {
    let taken = false;
    for (const tap of this.#taps) taken = tap(raw) || taken;
    return taken;
  }
  #dispatch(session, frame) {
    switch (frame.type) {
      case "message": {
        const { type: _type, ...message2 } = frame;
        return this.#resume.offer(frame.room, [message2], this.#rooms.has(frame.room));
      }
      case "messages":
      case "syncPage":
        return this.#resume.offer(frame.room, frame.messages, this.#rooms.has(frame.room));
      case "synced":
        if (session === this.#connection.active) this.#resume.onSynced(session, frame);
        return;
      case "accepted":
        if (this.#outbox.accepted(frame)) this.#flush(frame.room);
        return;
      case "error": {
        const error = errorFromFrame(frame);
        if (frame.action === "send") return this.#onSendError(session, error);
        if (frame.action === "sync") return this.#resume.onSyncError(session, frame, error);
        if (!session.requests.handle(frame)) this.#emitError(error);
        return;
      }
      case "presenceChanged":
        session.requests.handle(frame);
        if (this.#notePresence(frame.user, frame.version)) this.#events.emit("presence", presenceUpdate(frame));
        return;
      case "typing":
        return this.#events.emit("typing", { room: frame.room, user: frame.user });
      case "read":
        session.requests.handle(frame);
        return this.#events.emit("read", { room: frame.room, user: frame.user, seq: frame.seq });
      default:
        session.requests.handle(frame);
    }
  }
  /** API Gateway's own error frame (no `type`): the request it answers failed with `internal`. */
  #onGatewayError(session) {
    if (session.requests.failOldest()) return;
    const entry = this.#outbox.oldestInflight(session.link.id);
    if (entry !== void 0) this.#onSendError(session, new StarlingError("internal", "the server failed to handle the send", { action: "send", clientMsgId: entry.clientMsgId }));
  }
  // --- outbox ---------------------------------------------------------------------------
  #onSendError(session, error) {
    const outcome = this.#outbox.refused(error, session.link.id, Date.now(), this.#connection.retryDelayMs());
    if (outcome === void 0) return this.#emitError(error);
    this.#flush(outcome.room);
    this.#scheduleFlush();
  }
  /** Sends the room's next queued message, if the active connection is joined to it and none is out. */
  #flush(room) {
    const active = this.#connection.active;
    if (active === void 0 || !active.link.open || !active.joined.has(room)) return;
    const entry = this.#outbox.next(room, Date.now());
    if (entry === void 0) return;
    if (!active.link.send(this.#outbox.sent(entry, active.link.id))) this.#outbox.linkLost(active.link.id);
  }
  #flushAll() {
    for (const room of this.#outbox.rooms()) this.#flush(room);
    this.#scheduleFlush();
  }
  #scheduleFlush() {
    const at = this.#outbox.nextRetryAt(Date.now());
    clearTimeout(this.#flushTimer);
    if (at !== void 0) this.#flushTimer = setTimeout(() => this.#flushAll(), at - Date.now());
  }
  // --- requests -------------------------------------------------------------------------
  /** Sends `request` on `session` and waits for the frame `matches` accepts. */
  #ask(session, request, matches, timeoutMs = this.#options.requestTimeoutMs) {
    const reply = session.requests.add(request, matches, timeoutMs);
    session.link.send(request);
    return reply;
  }
  /** Sends `request` once connected and waits for its reply; sent again after a drop or `rate_limited`. */
  async #request(request, matches) {
    for (let attempt = 1; ; attempt++) {
      const session = await this.#connection.whenActive();
      try {
        return await this.#ask(session, request, matches);
      } catch (error) {
        const last = attempt >= this.#options.maxSendAttempts;
        if (error instanceof LinkLostError && !last) continue;
        if (error instanceof StarlingError && error.code === "rate_limited" && !last) {
          await sleep(error.retryAfterMs ?? this.#connection.retryDelayMs());
          continue;
        }
        if (error instanceof LinkLostError) throw new StarlingError("internal", error.message, { action: request.action });
        throw error;
      }
    }
  }
  // --- events ---------------------------------------------------------------------------
  #notePresence(user, version) {
    const known = this.#presenceVersions.get(user);
    if (known !== void 0 && version <= known) return false;
    this.#presenceVersions.set(user, version);
    return true;
  }
  #emitError(error) {
    if (this.#events.listenerCount("error") > 0) this.#events.emit("error", error);
  }
};
var INTERNALS = /* @__PURE__ */ new WeakMap();
function presenceUpdate(frame) {
  const { type: _type, ...update } = frame;
  return update;
}
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
function connect(url, tokenProvider, options = {}) {
  return new StarlingClient(url, tokenProvider, options);
}

// ../typescript/src/helpers.ts
var TypingThrottle = class {
  #client;
  #intervalMs;
  #last = /* @__PURE__ */ new Map();
  /** @param intervalMs default 2 500 (just over the server's 2 s). */
  constructor(client, intervalMs = 2500) {
    this.#client = client;
    this.#intervalMs = intervalMs;
  }
  /** The user typed in `room`; returns whether a `typing` frame went out. */
  keystroke(room, now = Date.now()) {
    const last = this.#last.get(room);
    if (last !== void 0 && now - last < this.#intervalMs) return false;
    if (!this.#client.typing(room)) return false;
    this.#last.set(room, now);
    return true;
  }
  /** The user sent the message (or cleared the input): the next keystroke announces again at once. */
  reset(room) {
    this.#last.delete(room);
  }
};
var TypingIndicator = class {
  #timeoutMs;
  #since = /* @__PURE__ */ new Map();
  /** @param timeoutMs default 5 000. */
  constructor(timeoutMs = 5e3) {
    this.#timeoutMs = timeoutMs;
  }
  /** Feed it every `typing` event. */
  typing(room, user, now = Date.now()) {
    let users = this.#since.get(room);
    if (users === void 0) {
      users = /* @__PURE__ */ new Map();
      this.#since.set(room, users);
    }
    users.set(user, now);
  }
  /** Feed it every `message` event: its sender stopped typing. */
  message(room, from) {
    this.#since.get(room)?.delete(from);
  }
  /** The users typing in `room` now, in the order they started. */
  typingIn(room, now = Date.now()) {
    const users = this.#since.get(room);
    if (users === void 0) return [];
    for (const [user, at] of users) if (now - at >= this.#timeoutMs) users.delete(user);
    return [...users.keys()];
  }
};
var ReadCursors = class {
  #cursors = /* @__PURE__ */ new Map();
  /** Feed it every `read` event. Returns whether the cursor moved. */
  update(room, user, seq) {
    let users = this.#cursors.get(room);
    if (users === void 0) {
      users = /* @__PURE__ */ new Map();
      this.#cursors.set(room, users);
    }
    if ((users.get(user) ?? 0) >= seq) return false;
    users.set(user, seq);
    return true;
  }
  /** `user`'s cursor in `room` (0 when unknown). */
  cursor(room, user) {
    return this.#cursors.get(room)?.get(user) ?? 0;
  }
  /** The users whose cursor in `room` is at or past `seq`: who has seen that message. */
  seenBy(room, seq) {
    return [...this.#cursors.get(room) ?? []].filter(([, at]) => at >= seq).map(([user]) => user);
  }
  /** How many of the seqs after `user`'s cursor, up to `lastSeq`, are unread. */
  unread(room, user, lastSeq) {
    return Math.max(0, lastSeq - this.cursor(room, user));
  }
};

// src/dom.ts
function byId(id) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no #${id}`);
  return el;
}
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === void 0 || value === false) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children);
  return el;
}
function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
function dayLabel(iso, now = /* @__PURE__ */ new Date()) {
  const day = new Date(iso);
  const startOf = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((startOf(now) - startOf(day)) / 864e5);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  return day.toLocaleDateString([], { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}
function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}
function hue(user) {
  let hash = 0;
  for (const c of user) hash = hash * 31 + c.charCodeAt(0) >>> 0;
  return hash % 360;
}
function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// src/rooms.ts
var DM_USER = /^[A-Za-z0-9_.-]+$/;
function dmRoom(me, peer) {
  if (me === peer) return { error: "a DM needs another user" };
  if (!DM_USER.test(me) || !DM_USER.test(peer)) {
    return { error: "DMs need user ids made of A-Z a-z 0-9 _ . - only (room ids take no : @ + =)" };
  }
  const [a, b] = me < peer ? [me, peer] : [peer, me];
  const room = `dm:${a}:${b}`;
  return room.length <= 64 ? { room } : { error: "the two user ids are too long for a DM room (64 characters in all)" };
}
function dmPeer(room, me) {
  const parts = room.split(":");
  if (parts.length !== 3 || parts[0] !== "dm") return void 0;
  const [, a, b] = parts;
  if (a === me) return b;
  if (b === me) return a;
  return void 0;
}
var RoomModel = class {
  id;
  /** Keyed by seq: a message delivered twice (history and live) is shown once. */
  messages = /* @__PURE__ */ new Map();
  pending = /* @__PURE__ */ new Map();
  members = /* @__PURE__ */ new Set();
  unread = 0;
  hasOlder = false;
  joined = false;
  /** Its newest history page is in: what is shown is then complete up to the newest message. */
  loaded = false;
  /** A DM joined in the background, shown once it has a message (see ChatApp.discoverDms). */
  hidden = false;
  constructor(id) {
    this.id = id;
  }
  /** Whether `m` was new. */
  add(m) {
    if (this.messages.has(m.seq)) return false;
    this.messages.set(m.seq, m);
    return true;
  }
  sorted() {
    return [...this.messages.values()].sort((x, y) => x.seq - y.seq);
  }
  get maxSeq() {
    let max = 0;
    for (const seq of this.messages.keys()) max = Math.max(max, seq);
    return max;
  }
  get minSeq() {
    let min;
    for (const seq of this.messages.keys()) if (min === void 0 || seq < min) min = seq;
    return min;
  }
};
var SavedRooms = class {
  #key;
  constructor(user) {
    this.#key = `starling-web:${user}:`;
  }
  list() {
    try {
      const rooms = JSON.parse(localStorage.getItem(`${this.#key}rooms`) ?? "[]");
      return Array.isArray(rooms) ? rooms.filter((r) => typeof r === "string") : [];
    } catch {
      return [];
    }
  }
  add(room) {
    const rooms = this.list();
    if (!rooms.includes(room)) localStorage.setItem(`${this.#key}rooms`, JSON.stringify([...rooms, room]));
  }
  remove(room) {
    localStorage.setItem(`${this.#key}rooms`, JSON.stringify(this.list().filter((r) => r !== room)));
  }
  get current() {
    return localStorage.getItem(`${this.#key}current`);
  }
  set current(room) {
    localStorage.setItem(`${this.#key}current`, room);
  }
  /** The SDK's seq store prefix for this user, so users sharing a browser do not share seqs. */
  get seqPrefix() {
    return `${this.#key}seq:`;
  }
};

// src/view.ts
var GROUP_MS = 5 * 6e4;
var View = class {
  #me;
  #events;
  #messages = byId("messages");
  #pending = byId("pending");
  #scroller = byId("scroller");
  #myStatus = "online";
  #connected = false;
  constructor(me, events) {
    this.#me = me;
    this.#events = events;
    byId("me-name").textContent = me;
  }
  /** The rooms and the DMs of the sidebar, with unread badges and the DM peers' dots. */
  lists(rooms, current, statuses) {
    const roomItems = [];
    const dmItems = [];
    for (const model of [...rooms].sort((a, b) => a.id.localeCompare(b.id))) {
      if (model.hidden) continue;
      const peer = dmPeer(model.id, this.#me);
      const label = peer === void 0 ? [h("span", { class: "hash" }, "#"), model.id] : [this.#dot(peer, statuses), peer];
      const badge = model.unread > 0 ? [h("span", { class: "badge", "data-unread": model.unread }, String(model.unread))] : [];
      const link = h("button", { type: "button", class: model.id === current ? "item active" : "item", "data-room": model.id }, ...label, ...badge);
      link.addEventListener("click", () => this.#events.select(model.id));
      (peer === void 0 ? roomItems : dmItems).push(h("li", {}, link));
    }
    const unread = [...rooms].reduce((n, m) => n + (m.hidden ? 0 : m.unread), 0);
    document.title = unread > 0 ? `(${unread}) Starling chat` : "Starling chat";
    byId("room-list").replaceChildren(...roomItems);
    byId("dm-list").replaceChildren(...dmItems);
  }
  /** The room's header, messages, pending sends and receipts, scrolled to the newest. */
  conversation(model, cursors) {
    const peer = model === void 0 ? void 0 : dmPeer(model.id, this.#me);
    byId("room-title").textContent = model === void 0 ? "No room" : peer === void 0 ? `# ${model.id}` : peer;
    byId("room-sub").textContent = model === void 0 ? "Join a room to start" : peer === void 0 ? "room" : "direct message";
    byId("leave").hidden = model === void 0;
    byId("composer").hidden = model === void 0;
    byId("older").hidden = !(model?.hasOlder ?? false);
    const nodes = [];
    let previous;
    for (const m of model?.sorted() ?? []) {
      nodes.push(...this.#messageNodes(m, previous));
      previous = m;
    }
    this.#messages.replaceChildren(...nodes);
    this.#messages.dataset.room = model?.id ?? "";
    this.#messages.dataset.loaded = String(model?.loaded ?? false);
    this.pending(model);
    this.receipts(model, cursors);
    this.#scrollToEnd();
  }
  /** Adds `m` after the last message (the common case); anything else redraws the list. */
  append(model, m, cursors) {
    const sorted = model.sorted();
    const previous = sorted[sorted.length - 2];
    const last = [...this.#messages.querySelectorAll("li.msg")].pop() ?? null;
    if (sorted[sorted.length - 1] !== m || last !== null && Number(last.dataset.seq) !== previous?.seq) {
      this.conversation(model, cursors);
      return;
    }
    const atEnd = this.#atEnd();
    this.#messages.append(...this.#messageNodes(m, previous));
    this.receipts(model, cursors);
    if (atEnd || m.from === this.#me) this.#scrollToEnd();
  }
  /** Messages sent from here that the server has not delivered back yet. */
  pending(model) {
    const items = [...model?.pending.values() ?? []].map((p) => h(
      "li",
      { class: p.failed === void 0 ? "msg mine pending-msg" : "msg mine failed", "data-client-msg-id": p.clientMsgId },
      h("div", { class: "body" }, p.body),
      h("div", { class: "meta" }, p.failed ?? "sending…")
    ));
    this.#pending.replaceChildren(...items);
  }
  /** "Seen by" under the newest message each other reader's cursor has reached. */
  receipts(model, cursors) {
    for (const old of this.#messages.querySelectorAll(".receipt")) old.remove();
    if (model === void 0) return;
    const shown = [...this.#messages.querySelectorAll("li.msg")];
    const bySeq = /* @__PURE__ */ new Map();
    for (const [user, cursor] of cursors) {
      if (user === this.#me) continue;
      const at = shown.filter((el) => Number(el.dataset.seq) <= cursor).pop();
      if (at !== void 0) bySeq.set(at, [...bySeq.get(at) ?? [], user]);
    }
    for (const [el, users] of bySeq) {
      const who = dmPeer(model.id, this.#me) === void 0 ? `Seen by ${users.sort().join(", ")}` : "Seen";
      el.append(h("div", { class: "receipt", "data-seen-by": users.sort().join(" ") }, who));
    }
  }
  /** The room's members with their presence dots; clicking one opens a DM. */
  members(model, statuses) {
    const order = { online: 0, away: 1, offline: 2 };
    const users = [...model?.members ?? []].sort(
      (a, b) => order[statuses.get(a) ?? "offline"] - order[statuses.get(b) ?? "offline"] || a.localeCompare(b)
    );
    byId("member-list").replaceChildren(...users.map((user) => {
      const status = statuses.get(user) ?? "offline";
      const item = h(
        "button",
        { type: "button", class: "item", "data-user": user, "data-status": status, title: user === this.#me ? "you" : `${status}: message ${user}` },
        this.#dot(user, statuses),
        user,
        user === this.#me ? h("span", { class: "muted" }, " (you)") : ""
      );
      if (user !== this.#me) item.addEventListener("click", () => this.#events.openDm(user));
      return h("li", {}, item);
    }));
    this.#myStatus = statuses.get(this.#me) ?? "online";
    this.#showMyStatus();
  }
  /** The room's activity over the last hour (the `stats` action): totals, and messages per minute as bars. */
  stats(stats) {
    const panel = byId("room-stats");
    panel.hidden = stats === void 0;
    if (stats === void 0) return;
    const { messages, senders, deliveries } = stats.totals;
    Object.assign(panel.dataset, { room: stats.room, messages: String(messages), senders: String(senders), deliveries: String(deliveries) });
    byId("stats-messages").textContent = messages.toLocaleString();
    byId("stats-senders").textContent = senders.toLocaleString();
    byId("stats-deliveries").textContent = deliveries.toLocaleString();
    const perMinute = new Map(stats.minutes.map((m) => [m.minute, m.messages]));
    const peak = Math.max(1, ...perMinute.values());
    const now = Date.now();
    const bars = Array.from({ length: 60 }, (_, i) => {
      const minute = new Date(now - (59 - i) * 6e4).toISOString().slice(0, 16) + "Z";
      const n = perMinute.get(minute) ?? 0;
      return h("span", { style: `height: ${Math.round(100 * n / peak)}%`, title: `${minute}: ${n} messages` });
    });
    byId("stats-bars").replaceChildren(...bars);
  }
  /** One's own dot: one's status while connected, offline while not. */
  #showMyStatus() {
    const dot = byId("me-dot");
    dot.dataset.status = this.#connected ? this.#myStatus : "offline";
    dot.title = this.#connected ? this.#myStatus : "not connected";
  }
  /** "bob is typing…" for the current room. */
  typing(users) {
    const el = byId("typing");
    el.dataset.users = users.join(" ");
    if (users.length === 0) el.replaceChildren();
    else {
      const who = users.length === 1 ? `${users[0]} is` : users.length === 2 ? `${users[0]} and ${users[1]} are` : "Several people are";
      el.replaceChildren(h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), `${who} typing…`);
    }
  }
  /** The connection banner: hidden while connected. */
  state(state, waiting) {
    document.body.dataset.state = state;
    this.#connected = state === "connected";
    this.#showMyStatus();
    const banner = byId("banner");
    banner.dataset.state = state;
    const queued = waiting > 0 ? ` ${waiting} message${waiting === 1 ? "" : "s"} will be sent when it is back.` : "";
    const text = {
      connecting: "Connecting…",
      reconnecting: `Reconnecting… the connection dropped.${queued}`,
      connected: "",
      disconnected: "Disconnected."
    };
    banner.textContent = text[state];
    banner.hidden = state === "connected";
  }
  toast(text) {
    const toast = h("div", { class: "toast", role: "alert" }, text);
    byId("toasts").append(toast);
    setTimeout(() => toast.remove(), 6e3);
  }
  /** Keeps the reader's place while older messages are put above. */
  keepingPlace(redraw) {
    const fromEnd = this.#scroller.scrollHeight - this.#scroller.scrollTop;
    redraw();
    this.#scroller.scrollTop = this.#scroller.scrollHeight - fromEnd;
  }
  #messageNodes(m, previous) {
    const nodes = [];
    const newDay = previous === void 0 || dayKey(previous.sentAt) !== dayKey(m.sentAt);
    if (newDay) nodes.push(h("li", { class: "day", role: "separator" }, h("span", {}, dayLabel(m.sentAt))));
    const grouped = !newDay && previous?.from === m.from && Date.parse(m.sentAt) - Date.parse(previous.sentAt) < GROUP_MS;
    const mine = m.from === this.#me;
    const attrs = { class: `msg${mine ? " mine" : ""}${grouped ? " grouped" : ""}`, "data-seq": m.seq, "data-room": m.room, "data-from": m.from, "data-id": m.id };
    const time = h("time", { datetime: m.sentAt, title: new Date(m.sentAt).toLocaleString() }, clock(m.sentAt));
    const head = grouped ? [] : [
      h("div", { class: "avatar", style: `--hue:${hue(m.from)}`, "aria-hidden": "true" }, m.from.slice(0, 1).toUpperCase()),
      h("div", { class: "head" }, h("span", { class: "from" }, m.from), time)
    ];
    nodes.push(h("li", attrs, ...head, h("div", { class: "body" }, m.body), ...grouped ? [h("span", { class: "hover-time" }, clock(m.sentAt))] : []));
    return nodes;
  }
  #dot(user, statuses) {
    const status = statuses.get(user) ?? "offline";
    return h("span", { class: "dot", "data-status": status, "data-user": user, title: status });
  }
  #atEnd() {
    const s = this.#scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 40;
  }
  #scrollToEnd() {
    this.#scroller.scrollTop = this.#scroller.scrollHeight;
  }
};

// src/chat.ts
var PAGE = 50;
var READ_EVERY_MS = 1200;
var PRESENCE_EVERY_MS = 3e4;
var MAX_DISCOVERED_DMS = 10;
var STATS_AFTER_MESSAGE_MS = 3e3;
var STATS_EVERY_MS = 6e4;
var ChatApp = class {
  client;
  me;
  #rooms = /* @__PURE__ */ new Map();
  #statuses = /* @__PURE__ */ new Map();
  #cursors = new ReadCursors();
  #myReads = /* @__PURE__ */ new Map();
  #readTimers = /* @__PURE__ */ new Map();
  #typing = new TypingIndicator();
  #throttle;
  #saved;
  #view;
  #discovered = /* @__PURE__ */ new Set();
  #timers = [];
  #statsTimer;
  #statsAgain = false;
  #current;
  constructor(url, me, tokens) {
    this.me = me;
    this.#saved = new SavedRooms(me);
    this.client = connect(url, tokens, { store: new LocalStorageStore(this.#saved.seqPrefix) });
    this.#throttle = new TypingThrottle(this.client);
    this.#view = new View(me, { select: (room) => this.select(room), openDm: (user) => void this.openDm(user) });
    this.#statuses.set(me, "online");
    this.#listen();
    this.#view.state(this.client.state, 0);
    const saved = this.#saved.list();
    const rooms = saved.length > 0 ? saved : ["lobby"];
    const current = this.#saved.current;
    for (const room of rooms) void this.open(room, room === (current !== null && rooms.includes(current) ? current : rooms[0]));
    this.#timers.push(setInterval(() => this.#view.typing(this.#typingHere()), 1e3));
    this.#timers.push(setInterval(() => void this.#refreshPresence(this.#current), PRESENCE_EVERY_MS));
    this.#timers.push(setInterval(() => void this.#refreshStats(this.#current), STATS_EVERY_MS));
  }
  #listen() {
    const c = this.client;
    c.on("state", ({ state, previous }) => {
      this.#view.state(state, c.outboxSize);
      if (state === "connected" && previous === "reconnecting") void this.#refreshPresence(this.#current);
    });
    c.on("message", (m) => this.#onMessage(m));
    c.on("presence", (p) => {
      this.#statuses.set(p.user, p.status);
      this.#redrawPeople();
    });
    c.on("typing", ({ room, user }) => {
      this.#typing.typing(room, user);
      this.#noteMember(room, user);
      if (room === this.#current) this.#view.typing(this.#typingHere());
    });
    c.on("read", ({ room, user, seq }) => {
      if (!this.#cursors.update(room, user, seq)) return;
      if (user === this.me) this.#myReads.set(room, Math.max(seq, this.#myReads.get(room) ?? 0));
      this.#noteMember(room, user);
      if (room === this.#current) this.#view.receipts(this.#rooms.get(room), this.#readersOf(room));
    });
    c.on("gap", ({ room, fromSeq, toSeq }) => this.#view.toast(`${room}: messages ${fromSeq}–${toSeq} are past retention`));
    c.on("error", (e) => this.#view.toast(e.message));
    document.addEventListener("visibilitychange", () => this.#scheduleRead(this.#current));
  }
  /** Opens `room` (joining it once) and shows it when `show`. */
  async open(room, show) {
    let model = this.#rooms.get(room);
    if (model === void 0) {
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
      this.#view.toast(`Cannot open ${room}: ${message(error)}`);
      this.#forget(room);
    }
  }
  async #join(model) {
    model.joined = true;
    await this.client.join(model.id);
    const page = await this.client.history(model.id, { limit: PAGE });
    for (const m of page.messages) model.add(m);
    model.hasOlder = page.hasMore;
    model.loaded = true;
    if (model.id === this.#current) {
      this.#redrawConversation();
      void this.#refreshStats(model.id);
    }
    if (dmPeer(model.id, this.me) === void 0) await this.#refreshPresence(model.id);
    else for (const user of model.id.split(":").slice(1)) model.members.add(user);
    this.#redrawPeople();
  }
  select(room) {
    const model = this.#rooms.get(room);
    if (model === void 0) return;
    this.#current = room;
    this.#saved.current = room;
    model.unread = 0;
    this.#redrawConversation();
    this.#redrawLists();
    this.#view.members(model, this.#statuses);
    this.#view.typing(this.#typingHere());
    this.#scheduleRead(room);
    this.#view.stats(void 0);
    if (model.loaded) void this.#refreshStats(room);
  }
  async openDm(user) {
    const dm = dmRoom(this.me, user);
    if ("error" in dm) this.#view.toast(dm.error);
    else await this.open(dm.room, true);
  }
  async leave() {
    const room = this.#current;
    if (room === void 0) return;
    this.#forget(room);
    const next = [...this.#rooms.values()].find((m) => !m.hidden);
    if (next === void 0) {
      this.#current = void 0;
      this.#redrawConversation();
    } else this.select(next.id);
    await this.client.leave(room).catch((e) => this.#view.toast(`Leaving ${room}: ${message(e)}`));
  }
  send(body) {
    const room = this.#current;
    const model = room === void 0 ? void 0 : this.#rooms.get(room);
    if (room === void 0 || model === void 0 || body.trim() === "") return;
    const clientMsgId = randomId();
    model.pending.set(clientMsgId, { clientMsgId, body, sentAt: Date.now() });
    this.#view.pending(model);
    this.#view.state(this.client.state, this.client.outboxSize + 1);
    this.client.send(room, body, { clientMsgId }).catch((error) => {
      const pending = model.pending.get(clientMsgId);
      if (pending === void 0) return;
      const rejected = error instanceof StarlingError && error.code === "rejected";
      pending.failed = rejected ? `Not sent: refused by moderation (${error.reason ?? "no reason given"})` : `Not sent: ${message(error)}`;
      if (room === this.#current) this.#view.pending(model);
    });
  }
  keystroke() {
    if (this.#current !== void 0) this.#throttle.keystroke(this.#current);
  }
  async loadOlder() {
    const model = this.#current === void 0 ? void 0 : this.#rooms.get(this.#current);
    const before = model?.minSeq;
    if (model === void 0 || before === void 0) return;
    const page = await this.client.history(model.id, { before, limit: PAGE });
    for (const m of page.messages) model.add(m);
    model.hasOlder = page.hasMore;
    if (model.id === this.#current) this.#view.keepingPlace(() => this.#redrawConversation());
  }
  setStatus(status) {
    this.client.setStatus(status).catch((e) => {
      const wait = e instanceof StarlingError && e.retryAfterMs !== void 0 ? ` (try again in ${Math.ceil(e.retryAfterMs / 1e3)} s)` : "";
      this.#view.toast(`Status not changed: ${message(e)}${wait}`);
    });
  }
  close() {
    for (const t of this.#timers) clearInterval(t);
    clearTimeout(this.#statsTimer);
    for (const t of this.#readTimers.values()) clearTimeout(t);
    this.client.close();
  }
  #onMessage(m) {
    const model = this.#rooms.get(m.room);
    if (model === void 0 || !model.add(m)) return;
    if (m.from === this.me && m.clientMsgId !== void 0 && model.pending.delete(m.clientMsgId)) this.#view.pending(model);
    this.#typing.message(m.room, m.from);
    this.#noteMember(m.room, m.from);
    if (model.hidden) {
      model.hidden = false;
      this.#saved.add(model.id);
    }
    if (m.room === this.#current) {
      this.#view.append(model, m, this.#readersOf(m.room));
      this.#view.typing(this.#typingHere());
      this.#scheduleRead(m.room);
      this.#statsSoon();
    } else if (m.from !== this.me) {
      model.unread += 1;
    }
    this.#redrawLists();
  }
  /** A user active in a room the page did not list as a member: ask for the members again. */
  #noteMember(room, user) {
    const model = this.#rooms.get(room);
    if (model === void 0 || model.members.has(user)) return;
    model.members.add(user);
    if (dmPeer(room, this.me) === void 0) void this.#refreshPresence(room);
    else if (room === this.#current) this.#view.members(model, this.#statuses);
  }
  async #refreshPresence(room) {
    const model = room === void 0 ? void 0 : this.#rooms.get(room);
    if (model === void 0 || !model.joined || dmPeer(model.id, this.me) !== void 0) return;
    try {
      let cursor;
      const members = /* @__PURE__ */ new Set();
      do {
        const page = await this.client.presence(model.id, cursor === void 0 ? {} : { cursor });
        for (const m of page.members) {
          members.add(m.user);
          this.#statuses.set(m.user, m.status);
        }
        cursor = page.hasMore ? page.cursor : void 0;
      } while (cursor !== void 0 && members.size < 2e3);
      model.members.clear();
      for (const user of members) model.members.add(user);
    } catch (error) {
      if (!(error instanceof StarlingError && error.code === "closed")) this.#view.toast(`Members of ${model.id}: ${message(error)}`);
      return;
    }
    this.#redrawPeople();
    void this.#discoverDms(model);
  }
  /** Refreshes the activity panel STATS_AFTER_MESSAGE_MS after a message, and once more after that if more came meanwhile. */
  #statsSoon() {
    if (this.#statsTimer !== void 0) {
      this.#statsAgain = true;
      return;
    }
    this.#statsTimer = setTimeout(() => {
      this.#statsTimer = void 0;
      void this.#refreshStats(this.#current);
      if (this.#statsAgain) {
        this.#statsAgain = false;
        this.#statsSoon();
      }
    }, STATS_AFTER_MESSAGE_MS);
  }
  /** The current room's activity over the last hour, for its panel (members only, like the room). */
  async #refreshStats(room) {
    const model = room === void 0 ? void 0 : this.#rooms.get(room);
    if (model === void 0 || !model.joined) return;
    try {
      const stats = await this.client.stats(model.id, { minutes: 60 });
      if (room === this.#current) this.#view.stats(stats);
    } catch (error) {
      if (!(error instanceof StarlingError && error.code === "closed")) console.warn(`stats of ${model.id}: ${message(error)}`);
    }
  }
  /**
   * There is no per-user channel, so a DM reaches a user only in a DM room they joined. Joining
   * the DM rooms with the members of one's rooms (quietly, shown once they hold a message) lets
   * a DM sent to this user appear.
   */
  async #discoverDms(model) {
    for (const user of model.members) {
      if (this.#discovered.size >= MAX_DISCOVERED_DMS) return;
      const dm = dmRoom(this.me, user);
      if ("error" in dm || this.#rooms.has(dm.room) || this.#discovered.has(dm.room)) continue;
      this.#discovered.add(dm.room);
      const quiet = new RoomModel(dm.room);
      quiet.hidden = true;
      this.#rooms.set(dm.room, quiet);
      const joined = await this.client.join(dm.room).catch(() => void 0);
      if (joined === void 0) continue;
      quiet.joined = true;
      quiet.members.add(this.me).add(user);
      if (joined.lastSeq === 0) continue;
      const page = await this.client.history(dm.room, { limit: PAGE }).catch(() => void 0);
      for (const m of page?.messages ?? []) quiet.add(m);
      quiet.hasOlder = page?.hasMore ?? false;
      quiet.loaded = page !== void 0;
      quiet.hidden = false;
      this.#saved.add(dm.room);
      this.#redrawLists();
    }
  }
  /** Marks the current room read up to its newest message, at most once per READ_EVERY_MS. */
  #scheduleRead(room) {
    if (room === void 0 || room !== this.#current || document.visibilityState !== "visible" || this.#readTimers.has(room)) return;
    this.#readTimers.set(room, setTimeout(() => {
      this.#readTimers.delete(room);
      const newest = this.#rooms.get(room)?.maxSeq ?? 0;
      if (room !== this.#current || newest <= (this.#myReads.get(room) ?? 0)) return;
      this.#myReads.set(room, newest);
      this.client.markRead(room, newest).catch((e) => this.#view.toast(`Read receipt: ${message(e)}`));
    }, READ_EVERY_MS));
  }
  #forget(room) {
    this.#rooms.delete(room);
    this.#saved.remove(room);
    this.#redrawLists();
  }
  #readersOf(room) {
    const model = this.#rooms.get(room);
    const readers = [...model?.members ?? []].map((u) => [u, this.#cursors.cursor(room, u)]);
    return new Map(readers.filter(([, seq]) => seq > 0));
  }
  #typingHere() {
    return this.#current === void 0 ? [] : this.#typing.typingIn(this.#current).filter((u) => u !== this.me);
  }
  #redrawLists() {
    this.#view.lists([...this.#rooms.values()], this.#current, this.#statuses);
  }
  #redrawConversation() {
    const model = this.#current === void 0 ? void 0 : this.#rooms.get(this.#current);
    this.#view.conversation(model, this.#readersOf(this.#current ?? ""));
  }
  #redrawPeople() {
    this.#redrawLists();
    this.#view.members(this.#current === void 0 ? void 0 : this.#rooms.get(this.#current), this.#statuses);
  }
};
function message(error) {
  return error instanceof Error ? error.message : String(error);
}

// src/signin.ts
var ENDPOINT = "/_devstack/token";
var REFRESH_MARGIN_MS = 6e4;
var SESSION_KEY = "starling-web:session";
function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null");
    if (typeof s !== "object" || s === null) return void 0;
    const r = s;
    if (r.mode === "dev" && typeof r.user === "string") return { mode: "dev", user: r.user };
    if (r.mode === "pasted" && typeof r.url === "string" && typeof r.token === "string") {
      return { mode: "pasted", url: r.url, token: r.token };
    }
  } catch {
  }
  return void 0;
}
function saveSession(session) {
  if (session === void 0) sessionStorage.removeItem(SESSION_KEY);
  else sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}
var NoDevTokens = class extends Error {
  constructor() {
    super("This server hands out no dev tokens: it runs with its own JWT secret, so tokens must come from your own auth service.");
  }
};
async function serverInfo() {
  const response = await fetch("/_devstack/info", { cache: "no-store" }).catch(() => void 0);
  if (response === void 0 || !response.ok) return void 0;
  const info = await response.json().catch(() => ({}));
  return typeof info.url === "string" && typeof info.devTokens === "boolean" ? { url: info.url, devTokens: info.devTokens } : void 0;
}
async function fetchDevToken(user) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user }),
      cache: "no-store"
    });
  } catch {
    throw new Error("The devstack does not answer. Is `cargo run -p starling-devstack` still running?");
  }
  if (response.status === 404) throw new NoDevTokens();
  const answer = await response.json().catch(() => ({}));
  if (response.ok && typeof answer.token === "string" && typeof answer.url === "string") return answer;
  if (response.status === 403) throw new Error("The dev token endpoint answers this machine only (loopback); open the page on 127.0.0.1.");
  throw new Error(answer.error ?? answer.message ?? `The token endpoint answered HTTP ${response.status}`);
}
function devTokenProvider(first) {
  let current = first;
  return async ({ forceRefresh }) => {
    if (forceRefresh || Date.parse(current.expiresAt) - Date.now() < REFRESH_MARGIN_MS) {
      current = await fetchDevToken(current.user);
    }
    return current.token;
  };
}

// src/main.ts
var chat;
var suggestedUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/local`;
function showSignIn(noDevTokens, why) {
  document.body.dataset.state = "signed-out";
  byId("chat").hidden = true;
  byId("signin").hidden = false;
  byId("signin-form").hidden = noDevTokens;
  byId("token-form").hidden = !noDevTokens;
  if (noDevTokens) {
    byId("token-why").textContent = why ?? new NoDevTokens().message;
    const url = byId("token-url");
    if (url.value === "") url.value = suggestedUrl;
  } else byId("signin-user").focus();
}
function start(url, user, tokens) {
  byId("signin").hidden = true;
  byId("chat").hidden = false;
  chat = new ChatApp(url, user, tokens);
  window.starling = chat;
  byId("composer-input").focus();
}
async function resume(session) {
  if (session.mode === "pasted") {
    const user = readClaims(session.token).sub ?? "unknown";
    start(session.url, user, () => session.token);
    return;
  }
  try {
    const token = await fetchDevToken(session.user);
    start(token.url, token.user, devTokenProvider(token));
  } catch (error) {
    saveSession(void 0);
    showSignIn(error instanceof NoDevTokens);
    showError("signin-error", error);
  }
}
function showError(id, error) {
  const el = byId(id);
  el.textContent = error instanceof Error ? error.message : String(error);
  el.hidden = false;
}
function wireSignIn() {
  byId("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const user = byId("signin-user").value.trim();
    byId("signin-error").hidden = true;
    fetchDevToken(user).then(
      (token) => {
        saveSession({ mode: "dev", user: token.user });
        start(token.url, token.user, devTokenProvider(token));
      },
      (error) => error instanceof NoDevTokens ? showSignIn(true) : showError("signin-error", error)
    );
  });
  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const url = byId("token-url").value.trim();
    const token = byId("token-value").value.trim();
    const user = readClaims(token).sub;
    if (user === void 0) return showError("token-error", new Error("That is not a JWT with a sub claim."));
    if (!/^wss?:\/\//.test(url)) return showError("token-error", new Error("The URL starts with ws:// or wss://."));
    saveSession({ mode: "pasted", url, token });
    start(url, user, () => token);
  });
}
function wireChat() {
  const input = byId("composer-input");
  const submit = () => {
    chat?.send(input.value);
    input.value = "";
    input.style.height = "";
  };
  byId("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  input.addEventListener("input", () => {
    chat?.keystroke();
    input.style.height = "";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  });
  const join = byId("join-room");
  byId("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const room = join.value.trim();
    if (room !== "") void chat?.open(room, true);
    join.value = "";
  });
  const dm = byId("dm-user");
  byId("dm-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const user = dm.value.trim();
    if (user !== "") void chat?.openDm(user);
    dm.value = "";
  });
  byId("older").addEventListener("click", () => void chat?.loadOlder());
  byId("leave").addEventListener("click", () => void chat?.leave());
  byId("me-status").addEventListener("change", (event) => {
    chat?.setStatus(event.target.value === "away" ? "away" : "online");
  });
  byId("signout").addEventListener("click", () => {
    chat?.close();
    chat = void 0;
    delete window.starling;
    saveSession(void 0);
    location.reload();
  });
}
async function boot() {
  wireSignIn();
  wireChat();
  const session = loadSession();
  if (session !== void 0) return resume(session);
  const info = await serverInfo();
  if (info !== void 0) suggestedUrl = info.url;
  showSignIn(info?.devTokens === false);
}
void boot();
