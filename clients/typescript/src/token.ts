/** Why the SDK asks for a token. */
export interface TokenRequest {
  /** `connect`: the first connection; `reconnect`: after a drop; `planned`: the planned reconnect before API Gateway's 2-hour limit. */
  reason: 'connect' | 'reconnect' | 'planned';
  /**
   * `true` when the previous handshake was refused or the server closed the connection for a
   * policy reason (1008, 4xxx): a cached token is likely expired, so fetch a new one.
   */
  forceRefresh: boolean;
  /** Attempts since the last successful connection (0 for the first). */
  attempt: number;
}

/**
 * Returns a token (an HS256 JWT signed by the deployment's secret) for the next handshake. It is
 * called before every connection attempt, because tokens expire and a connection outlives its
 * token only until the next reconnect.
 */
export type TokenProvider = (request: TokenRequest) => string | Promise<string>;

/** The claims the SDK reads from a token; it never verifies them (the server does). */
export interface TokenClaims {
  sub?: string;
  exp?: number;
}

/** The claims of a JWT, or `{}` when it is not one. Used only to know the user's id. */
export function readClaims(token: string): TokenClaims {
  const part = token.split('.')[1];
  if (part === undefined) return {};
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof claims !== 'object' || claims === null) return {};
    const { sub, exp } = claims as Record<string, unknown>;
    const out: TokenClaims = {};
    if (typeof sub === 'string') out.sub = sub;
    if (typeof exp === 'number') out.exp = exp;
    return out;
  } catch {
    return {};
  }
}

/** The URL of a handshake: `url` with `token` set in its query (the only place the server reads it). */
export function withToken(url: string, token: string): string {
  const u = new URL(url);
  u.searchParams.set('token', token);
  return u.toString();
}

/**
 * The URL the client connects to: {@link withToken}, opted in to `messages` frames (`batch=1`), which
 * carry several live messages of a room in one frame (protocol.md, "messages").
 */
export function handshakeUrl(url: string, token: string): string {
  const u = new URL(withToken(url, token));
  u.searchParams.set('batch', '1');
  return u.toString();
}
