import { createHmac } from 'node:crypto';

/** The devstack's default secret (`--jwt-secret`). */
export const DEV_SECRET = 'dev-secret';

const b64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/** An HS256 JWT for `sub`, valid for `ttlSeconds` (negative: already expired), signed with `secret`. */
export function mintToken(sub: string, ttlSeconds = 3600, secret = DEV_SECRET, extra: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ sub, exp: now + ttlSeconds, iat: now, ...extra }));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}
