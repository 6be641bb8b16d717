import { Backoff } from './backoff.js';
import { StarlingError } from './errors.js';
import type { ClientRequest } from './generated/protocol.js';
import type { ResolvedOptions } from './options.js';
import { LinkLostError } from './requests.js';
import { Session } from './session.js';
import { type TokenProvider, type TokenRequest, handshakeUrl, readClaims } from './token.js';
import { Link } from './transport.js';
import type { ConnectionState, StateChange } from './types.js';

/** What the {@link Connection} asks of the client. */
export interface ConnectionHooks {
  /** A new connection is open: join its rooms. It becomes the active one when this resolves (unless it closed). */
  prepare(session: Session): Promise<void>;
  /** `session` is now the active connection; `previous`, if any, is draining (a planned reconnect). */
  activated(session: Session, previous: Session | undefined): void;
  /** Whether the draining `previous` has nothing left out (it then closes before its drain timeout). */
  drained(previous: Session, successor: Session): boolean;
  /** A frame arrived on `session`. */
  frame(session: Session, frame: Record<string, unknown>): void;
  /** `session` closed (its waiting requests already failed). */
  closed(session: Session): void;
  /** The state changed. */
  state(change: StateChange): void;
  /** An error not tied to a promise. */
  error(error: StarlingError): void;
}

/**
 * The connection lifecycle: asks for a token before every attempt, opens a {@link Session},
 * lets the client join its rooms on it, makes it the active one, and replaces it when it drops
 * (after a backoff delay), when its heartbeat goes unanswered, or when its planned lifetime
 * ends (make-before-break: the old one drains while the new one takes over).
 */
export class Connection {
  readonly #url: string;
  readonly #tokenProvider: TokenProvider;
  readonly #options: ResolvedOptions;
  readonly #hooks: ConnectionHooks;
  readonly #backoff: Backoff;
  readonly #draining = new Set<Session>();
  readonly #waiting: Array<{ resolve: (s: Session) => void; reject: (e: StarlingError) => void }> = [];
  #state: ConnectionState = 'connecting';
  #user: string | undefined;
  #active: Session | undefined;
  #candidate: Session | undefined;
  #authFailed = false;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #onOnline = (): void => this.#retryNow();

  constructor(url: string, tokenProvider: TokenProvider, options: ResolvedOptions, hooks: ConnectionHooks) {
    this.#url = url;
    this.#tokenProvider = tokenProvider;
    this.#options = options;
    this.#hooks = hooks;
    this.#backoff = new Backoff(options.backoff, options.random);
    options.network?.addEventListener('online', this.#onOnline);
    // After the caller's synchronous code, so listeners it adds right after `connect()` hear everything.
    queueMicrotask(() => void this.#open('connect'));
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The `sub` of the last token. */
  get user(): string | undefined {
    return this.#user;
  }

  /** The connection in use, if any. */
  get active(): Session | undefined {
    return this.#active;
  }

  /** A connection being set up (first connect, reconnect, or the new one of a planned reconnect). */
  get candidate(): Session | undefined {
    return this.#candidate;
  }

  /** The current ceiling of the reconnect delay: a sensible wait before retrying anything. */
  retryDelayMs(): number {
    return this.#backoff.ceiling();
  }

  /** Resolves with the active session once connected. */
  whenActive(): Promise<Session> {
    if (this.#state === 'disconnected') return Promise.reject(new StarlingError('closed', 'the client is closed', { local: true }));
    if (this.#active !== undefined && this.#state === 'connected') return Promise.resolve(this.#active);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Starts a planned reconnect now (make-before-break). */
  replace(): void {
    if (this.#state === 'connected' && this.#candidate === undefined) void this.#open('planned');
  }

  /** Closes everything for good. */
  close(): void {
    if (this.#state === 'disconnected') return;
    this.#setState('disconnected');
    clearTimeout(this.#retryTimer);
    this.#options.network?.removeEventListener('online', this.#onOnline);
    for (const s of [this.#active, this.#candidate, ...this.#draining]) s?.end(1000, 'client closed');
    this.#active = undefined;
    this.#candidate = undefined;
    const closed = new StarlingError('closed', 'the client was closed', { local: true });
    for (const w of this.#waiting.splice(0)) w.reject(closed);
  }

  async #open(reason: TokenRequest['reason']): Promise<void> {
    if (this.#isClosed()) return;
    let token: string;
    try {
      token = await this.#tokenProvider({ reason, forceRefresh: this.#authFailed, attempt: this.#attempt });
    } catch (error) {
      this.#hooks.error(new StarlingError('unauthorized', `the token provider failed: ${String(error)}`, { local: true }));
      return this.#retry(reason, true);
    }
    if (this.#isClosed()) return;
    this.#user = readClaims(token).sub ?? this.#user;
    const session = new Session(reason === 'planned', (s) =>
      new Link(this.#options.WebSocket, handshakeUrl(this.#url, token), {
        open: () => void this.#establish(s),
        frame: (_, frame) => this.#hooks.frame(s, frame),
        close: (link, code) => this.#onClose(s, code, link.openedAt === undefined, link.closedByClient),
      }),
    );
    this.#candidate = session;
    session.timer('connect', this.#options.connectTimeoutMs, () => session.end(1000, 'connect timeout'));
  }

  async #establish(session: Session): Promise<void> {
    await this.#hooks.prepare(session);
    if (session.link.closed || this.#isClosed()) return;
    session.clearTimer('connect');
    const previous = this.#active;
    this.#active = session;
    this.#candidate = undefined;
    this.#authFailed = false;
    this.#attempt = 0;
    session.timer('stable', this.#options.stableAfterMs, () => this.#backoff.reset());
    const lifetime = this.#options.plannedReconnectMs - this.#options.random() * this.#options.plannedReconnectJitterMs;
    session.timer('planned', lifetime, () => this.replace());
    this.#armHeartbeat(session);
    this.#setState('connected');
    for (const w of this.#waiting.splice(0)) w.resolve(session);
    this.#hooks.activated(session, previous);
    if (previous !== undefined) {
      this.#draining.add(previous);
      previous.drain(this.#options.drainMs, () => this.#hooks.drained(previous, session));
    }
  }

  /** Lets draining sessions that finished their work close now. */
  checkDrained(): void {
    for (const old of this.#draining) old.maybeDrained();
  }

  #onClose(session: Session, code: number, beforeOpen: boolean, byClient: boolean): void {
    session.closed(new LinkLostError());
    const wasActive = session === this.#active;
    const wasCandidate = session === this.#candidate;
    if (wasActive) this.#active = undefined;
    if (wasCandidate) this.#candidate = undefined;
    this.#draining.delete(session);
    this.#hooks.closed(session);
    if (this.#isClosed()) return;
    // A refused handshake or a policy close: the token is likely the problem.
    if (beforeOpen || (!byClient && (code === 1008 || (code >= 4000 && code < 5000)))) this.#authFailed = true;
    if (wasCandidate) {
      this.#retry(session.planned && this.#active !== undefined ? 'planned' : 'reconnect', true);
    } else if (wasActive) {
      this.#setState('reconnecting', code);
      this.#retry('reconnect', false);
    }
  }

  /** The next attempt after a backoff delay; `failed` counts a failed attempt (a drop does not). */
  #retry(reason: TokenRequest['reason'], failed: boolean): void {
    if (this.#isClosed()) return;
    if (failed) this.#attempt += 1;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (reason === 'planned') this.replace();
      else if (this.#active === undefined && this.#candidate === undefined) void this.#open(this.#state === 'connecting' ? 'connect' : 'reconnect');
    }, this.#backoff.next());
  }

  /** The network is back: a reconnect waiting out its backoff delay starts now. */
  #retryNow(): void {
    if (this.#isClosed() || this.#active !== undefined || this.#candidate !== undefined) return;
    clearTimeout(this.#retryTimer);
    void this.#open(this.#state === 'connecting' ? 'connect' : 'reconnect');
  }

  /** A `ping` when the client sent nothing for a heartbeat interval; no `pong` in time ends the connection. */
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

  #setState(state: ConnectionState, code?: number): void {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    this.#hooks.state(code === undefined ? { state, previous } : { state, previous, code });
  }

  /** A method, so TypeScript does not narrow the state across an `await`. */
  #isClosed(): boolean {
    return this.#state === 'disconnected';
  }
}
