import { type ClientOptions, type Gap, type Message, type StarlingClient, type StateChange, type TokenRequest, connect } from '../../dist/index.js';
import { FakeServer } from './fake-server.js';
import { mintToken } from './jwt.js';

/** A client on a {@link FakeServer}, with what it saw. */
export interface Rig {
  server: FakeServer;
  client: StarlingClient;
  /** Every token request, in order. */
  tokenRequests: TokenRequest[];
  /** Every `message` event. */
  messages: Message[];
  /** Every `state` event. */
  states: StateChange[];
  /** Every `gap` event. */
  gaps: Gap[];
  /** The seqs of `room` the application saw, in order. */
  seqs(room: string): number[];
}

/** Short timings, so reconnects happen within milliseconds. */
export const FAST: ClientOptions = {
  backoff: { initialDelayMs: 5, maxDelayMs: 20 },
  requestTimeoutMs: 2_000,
  connectTimeoutMs: 2_000,
};

/** A client for `user` on a fresh fake server (or `server`). */
export function rig(options: ClientOptions = {}, user = 'alice', server = new FakeServer()): Rig {
  const tokenRequests: TokenRequest[] = [];
  const client = connect(
    'ws://starling.test/local',
    (request) => {
      tokenRequests.push(request);
      return mintToken(user);
    },
    { ...FAST, WebSocket: server.WebSocket, ...options },
  );
  const messages: Message[] = [];
  const states: StateChange[] = [];
  const gaps: Gap[] = [];
  client.on('message', (m) => messages.push(m));
  client.on('state', (s) => states.push(s));
  client.on('gap', (g) => gaps.push(g));
  return {
    server,
    client,
    tokenRequests,
    messages,
    states,
    gaps,
    seqs: (room) => messages.filter((m) => m.room === room).map((m) => m.seq),
  };
}

/** `[from, …, to]`. */
export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
