import { StarlingError } from './errors.js';
import { LIMITS } from './generated/protocol.js';

const roomPattern = new RegExp(LIMITS.roomIdPattern);
const encoder = new TextEncoder();

/** Refuses, before sending, a room id the server would refuse with `bad_request`. */
export function checkRoom(room: string, action: string): void {
  if (typeof room !== 'string' || !roomPattern.test(room)) {
    throw new StarlingError('bad_request', `${JSON.stringify(room)} is not a room id: 1–${LIMITS.maxRoomIdLength} of A-Z a-z 0-9 _ . : -`, { action, local: true });
  }
}

/** Refuses, before sending, a body the server would refuse (`bad_request` empty, `too_large` over 16 KiB of UTF-8). */
export function checkBody(body: string, clientMsgId: string): void {
  if (typeof body !== 'string' || body.length === 0) {
    throw new StarlingError('bad_request', 'a message body must be a non-empty string', { action: 'send', clientMsgId, local: true });
  }
  const bytes = encoder.encode(body).length;
  if (bytes > LIMITS.maxBodyLength) {
    throw new StarlingError('too_large', `the body is ${bytes} bytes of UTF-8; the server takes at most ${LIMITS.maxBodyLength}`, { action: 'send', clientMsgId, local: true });
  }
}

/** Refuses, before sending, a `clientMsgId` the server would refuse with `bad_request`. */
export function checkClientMsgId(clientMsgId: string): void {
  const length = typeof clientMsgId === 'string' ? [...clientMsgId].length : 0;
  if (length < 1 || length > LIMITS.maxClientMsgIdLength) {
    throw new StarlingError('bad_request', `a clientMsgId is 1–${LIMITS.maxClientMsgIdLength} characters`, { action: 'send', local: true });
  }
}

/**
 * A fresh `clientMsgId`: `crypto.randomUUID()`, or the same form from `getRandomValues` where
 * `randomUUID` is missing (browsers outside a secure context, e.g. a page on a LAN address).
 */
export function newClientMsgId(): string {
  const c = globalThis.crypto as Crypto & { randomUUID?: () => string };
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
