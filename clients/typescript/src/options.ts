import type { BackoffOptions } from './backoff.js';
import type { SeqStore } from './store.js';
import type { WebSocketConstructor } from './transport.js';

/** How a {@link StarlingClient} behaves. Every field is optional. */
export interface ClientOptions {
  /** The `WebSocket` constructor. Default `globalThis.WebSocket` (browsers, Node ≥ 22). */
  WebSocket?: WebSocketConstructor;
  /** Where each room's last delivered seq is kept. Default a {@link MemoryStore}. */
  store?: SeqStore;
  /** Reconnect delays: exponential with full jitter. */
  backoff?: BackoffOptions;
  /** A connection that stays up this long resets the backoff, in ms. Default 10 000. */
  stableAfterMs?: number;
  /** A `ping` goes out when the client sent nothing for this long, in ms; API Gateway closes idle connections at 10 minutes. Default 300 000 (5 minutes). */
  heartbeatIntervalMs?: number;
  /** A `ping` without `pong` for this long means the connection is dead: reconnect. In ms. Default 30 000. */
  heartbeatTimeoutMs?: number;
  /** A handshake plus the re-joins may take this long before the attempt is abandoned, in ms. Default 15 000. */
  connectTimeoutMs?: number;
  /** A request without a reply for this long rejects with `timeout`, in ms. Default 30 000. */
  requestTimeoutMs?: number;
  /** The connection is replaced (make-before-break) after this long, ahead of API Gateway's 2-hour limit, in ms. Default 6 600 000 (1 h 50 min). */
  plannedReconnectMs?: number;
  /** Up to this much is taken off {@link plannedReconnectMs} at random, so clients do not all switch at once, in ms. Default 300 000. */
  plannedReconnectJitterMs?: number;
  /** After a planned reconnect, the old connection may finish its requests for this long before it is closed, in ms. Default 5 000. */
  drainMs?: number;
  /** Sends of one message refused with a retryable code (`rate_limited`, `internal`) before its promise rejects. Default 10. */
  maxSendAttempts?: number;
  /** When a room lost messages to retention (`synced` with `recovered:false`), the SDK resumes from its newest `history` page of this many messages. Default 50. */
  gapHistoryLimit?: number;
  /** Random numbers in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
  /**
   * Where the browser says the network is back (`online` events): a reconnect then starts at
   * once instead of waiting out its backoff delay. Default `globalThis` when it has
   * `addEventListener` (browsers); `null` for none.
   */
  network?: NetworkEvents | null;
}

/** The `online` event of the browser's `window`. */
export interface NetworkEvents {
  /** Listens to `online`. */
  addEventListener(type: 'online', listener: () => void): void;
  /** Stops listening. */
  removeEventListener(type: 'online', listener: () => void): void;
}

/** {@link ClientOptions} with every default filled in. */
export type ResolvedOptions = Required<Omit<ClientOptions, 'backoff' | 'network'>> & { backoff: BackoffOptions; network: NetworkEvents | null };

/** Fills in the defaults and checks the timings make sense. */
export function resolveOptions(options: ClientOptions, defaultStore: () => SeqStore): ResolvedOptions {
  const WebSocketCtor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (WebSocketCtor === undefined) {
    throw new Error('no WebSocket here: use Node ≥ 22 (or node --experimental-websocket on Node 20), a browser, or pass options.WebSocket');
  }
  const resolved: ResolvedOptions = {
    WebSocket: WebSocketCtor,
    store: options.store ?? defaultStore(),
    backoff: options.backoff ?? {},
    stableAfterMs: options.stableAfterMs ?? 10_000,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 300_000,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 30_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 15_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    plannedReconnectMs: options.plannedReconnectMs ?? 6_600_000,
    plannedReconnectJitterMs: options.plannedReconnectJitterMs ?? 300_000,
    drainMs: options.drainMs ?? 5_000,
    maxSendAttempts: options.maxSendAttempts ?? 10,
    gapHistoryLimit: options.gapHistoryLimit ?? 50,
    random: options.random ?? Math.random,
    network: options.network === undefined ? browserNetwork() : options.network,
  };
  if (resolved.heartbeatIntervalMs >= 600_000) throw new RangeError('heartbeatIntervalMs must be under API Gateway\'s 10-minute idle timeout');
  if (resolved.plannedReconnectMs >= 7_200_000) throw new RangeError('plannedReconnectMs must be under API Gateway\'s 2-hour connection limit');
  if (resolved.plannedReconnectJitterMs > resolved.plannedReconnectMs) throw new RangeError('plannedReconnectJitterMs exceeds plannedReconnectMs');
  if (resolved.gapHistoryLimit < 1 || resolved.gapHistoryLimit > 100) throw new RangeError('gapHistoryLimit is 1–100');
  return resolved;
}

function browserNetwork(): NetworkEvents | null {
  const g = globalThis as { addEventListener?: unknown; removeEventListener?: unknown };
  return typeof g.addEventListener === 'function' && typeof g.removeEventListener === 'function' ? (globalThis as unknown as NetworkEvents) : null;
}
