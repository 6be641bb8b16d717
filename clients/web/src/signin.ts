/**
 * Where tokens come from. On a devstack with its development secret: `POST /_devstack/token`
 * (docs/devstack.md). With any other secret that route does not exist, and a token must come
 * from the deployment's own auth: the page then takes a pasted one.
 */
import type { TokenProvider } from '../../typescript/src/index.js';

const ENDPOINT = '/_devstack/token';
/** A dev token this close to its expiry is replaced before the next handshake. */
const REFRESH_MARGIN_MS = 60_000;

/** Who is signed in, kept in sessionStorage so a reload of this tab signs in again. */
export type Session = { mode: 'dev'; user: string } | { mode: 'pasted'; url: string; token: string };

const SESSION_KEY = 'starling-web:session';

export function loadSession(): Session | undefined {
  try {
    const s: unknown = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    if (typeof s !== 'object' || s === null) return undefined;
    const r = s as Record<string, unknown>;
    if (r.mode === 'dev' && typeof r.user === 'string') return { mode: 'dev', user: r.user };
    if (r.mode === 'pasted' && typeof r.url === 'string' && typeof r.token === 'string') {
      return { mode: 'pasted', url: r.url, token: r.token };
    }
  } catch {
    // A session another version of the page wrote: sign in again.
  }
  return undefined;
}

export function saveSession(session: Session | undefined): void {
  if (session === undefined) sessionStorage.removeItem(SESSION_KEY);
  else sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

/** The devstack runs with its own `--jwt-secret`: it mints no tokens. */
export class NoDevTokens extends Error {
  constructor() {
    super('This server hands out no dev tokens: it runs with its own JWT secret, so tokens must come from your own auth service.');
  }
}

export interface DevToken {
  token: string;
  url: string;
  user: string;
  expiresAt: string;
}

/** What `GET /_devstack/info` says: where to connect, and whether dev tokens are handed out. */
export interface ServerInfo {
  url: string;
  devTokens: boolean;
}

/** The devstack's info, or `undefined` when this page is not served by a devstack. */
export async function serverInfo(): Promise<ServerInfo | undefined> {
  const response = await fetch('/_devstack/info', { cache: 'no-store' }).catch(() => undefined);
  if (response === undefined || !response.ok) return undefined;
  const info = (await response.json().catch(() => ({}))) as Partial<ServerInfo>;
  return typeof info.url === 'string' && typeof info.devTokens === 'boolean' ? { url: info.url, devTokens: info.devTokens } : undefined;
}

/** A dev token for `user`, or an error whose message the sign-in form shows as it is. */
export async function fetchDevToken(user: string): Promise<DevToken> {
  let response: Response;
  try {
    response = await fetch(ENDPOINT, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user }),
      cache: 'no-store',
    });
  } catch {
    throw new Error('The devstack does not answer. Is `cargo run -p starling-devstack` still running?');
  }
  if (response.status === 404) throw new NoDevTokens();
  const answer = (await response.json().catch(() => ({}))) as Partial<DevToken> & { error?: string; message?: string };
  if (response.ok && typeof answer.token === 'string' && typeof answer.url === 'string') return answer as DevToken;
  if (response.status === 403) throw new Error('The dev token endpoint answers this machine only (loopback); open the page on 127.0.0.1.');
  throw new Error(answer.error ?? answer.message ?? `The token endpoint answered HTTP ${response.status}`);
}

/**
 * Hands the SDK a dev token for each handshake, fetching a new one when the last is near its
 * expiry or was refused: a connection outlives its token only until the next reconnect.
 */
export function devTokenProvider(first: DevToken): TokenProvider {
  let current = first;
  return async ({ forceRefresh }) => {
    if (forceRefresh || Date.parse(current.expiresAt) - Date.now() < REFRESH_MARGIN_MS) {
      current = await fetchDevToken(current.user);
    }
    return current.token;
  };
}
