import { type ClientOptions, type Message, type StarlingClient, type StateChange, type TokenProvider, type TokenRequest, connect } from '../../dist/index.js';
import { mintToken } from './jwt.js';

/** A client on a real devstack, with what its application saw. */
export interface LiveClient {
  client: StarlingClient;
  messages: Message[];
  states: StateChange[];
  tokenRequests: TokenRequest[];
  bodies(room: string): string[];
  seqs(room: string): number[];
}

/** Connects `user` to `wsUrl` with fresh tokens (or `provider`), recording what it sees. */
export function liveClient(wsUrl: string, user: string, options: ClientOptions = {}, provider?: TokenProvider): LiveClient {
  const tokenRequests: TokenRequest[] = [];
  const client = connect(
    wsUrl,
    (request) => {
      tokenRequests.push(request);
      return provider === undefined ? mintToken(user) : provider(request);
    },
    { backoff: { initialDelayMs: 50, maxDelayMs: 500 }, requestTimeoutMs: 10_000, ...options },
  );
  const messages: Message[] = [];
  const states: StateChange[] = [];
  client.on('message', (m) => messages.push(m));
  client.on('state', (s) => states.push(s));
  return {
    client,
    messages,
    states,
    tokenRequests,
    bodies: (room) => messages.filter((m) => m.room === room).map((m) => m.body),
    seqs: (room) => messages.filter((m) => m.room === room).map((m) => m.seq),
  };
}

/** Waits until `condition` holds; fails after `timeoutMs` with `what()` in the message. */
export async function eventually(condition: () => boolean, what: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `[from, …, to]`. */
export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

export { mintToken };
