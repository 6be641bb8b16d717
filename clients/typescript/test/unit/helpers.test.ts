// Presence, typing and read helpers, the seq stores, events and tokens.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { LocalStorageStore, type PresenceUpdate, ReadCursors, type StorageLike, TypingIndicator, TypingThrottle, type WebSocketConstructor } from '../../dist/index.js';
import { handshakeUrl, readClaims, withToken } from '../../dist/token.js';
import { Emitter } from '../../dist/events.js';
import { newClientMsgId } from '../../dist/validate.js';
import { until } from '../support/fake-server.js';
import { mintToken } from '../support/jwt.js';
import { type Rig, rig } from '../support/setup.js';

let current: Rig | undefined;
afterEach(() => current?.client.close());

test('presence announcements that arrive late (a lower or equal version) are dropped', async () => {
  const r = (current = rig());
  await r.client.join('lobby');
  const seen: PresenceUpdate[] = [];
  r.client.on('presence', (p) => seen.push(p));
  const socket = r.server.last;
  socket.push({ type: 'presenceChanged', user: 'bob', status: 'online', version: 2 });
  socket.push({ type: 'presenceChanged', user: 'bob', status: 'offline', lastSeen: '2026-11-22T21:05:00.000Z', version: 1 });
  socket.push({ type: 'presenceChanged', user: 'bob', status: 'online', version: 2 });
  socket.push({ type: 'presenceChanged', user: 'bob', status: 'away', version: 3 });
  await until(() => seen.length >= 2, 'the announcements');
  assert.deepEqual(seen.map((p) => [p.status, p.version]), [['online', 2], ['away', 3]]);
  assert.equal('type' in (seen[0] ?? {}), false, 'the event carries the update, not the frame');
});

test('typing and read frames become events; frames of unknown type and non-JSON text are ignored', async () => {
  const r = (current = rig());
  await r.client.join('lobby');
  const events: string[] = [];
  r.client.on('typing', (t) => events.push(`typing ${t.room} ${t.user}`));
  r.client.on('read', (e) => events.push(`read ${e.room} ${e.user} ${e.seq}`));
  const socket = r.server.last;
  socket.push({ type: 'dance', room: 'lobby' });
  socket.push('not json');
  socket.push({ type: 'typing', room: 'lobby', user: 'bob' });
  socket.push({ type: 'read', room: 'lobby', user: 'bob', seq: 4, futureField: true });
  await until(() => events.length === 2, 'two events');
  assert.deepEqual(events, ['typing lobby bob', 'read lobby bob 4']);
  assert.equal(r.client.state, 'connected');
});

test('typing throttle sends at most one typing per interval per room, and again at once after reset', () => {
  const sent: string[] = [];
  const throttle = new TypingThrottle({ typing: (room) => (sent.push(room), true) }, 2_500);
  assert.equal(throttle.keystroke('a', 0), true);
  assert.equal(throttle.keystroke('a', 1_000), false);
  assert.equal(throttle.keystroke('b', 1_000), true, 'rooms are throttled separately');
  assert.equal(throttle.keystroke('a', 2_500), true);
  throttle.reset('a');
  assert.equal(throttle.keystroke('a', 2_600), true);
  assert.deepEqual(sent, ['a', 'b', 'a', 'a']);
  const offline = new TypingThrottle({ typing: () => false });
  assert.equal(offline.keystroke('a', 0), false);
  assert.equal(offline.keystroke('a', 1), false, 'a typing that could not be sent does not start the interval');
});

test('the typing indicator forgets a typist after the timeout or when their message arrives', () => {
  const indicator = new TypingIndicator(5_000);
  indicator.typing('lobby', 'bob', 0);
  indicator.typing('lobby', 'carol', 1_000);
  assert.deepEqual(indicator.typingIn('lobby', 2_000), ['bob', 'carol']);
  indicator.message('lobby', 'carol');
  assert.deepEqual(indicator.typingIn('lobby', 2_000), ['bob']);
  assert.deepEqual(indicator.typingIn('lobby', 5_000), []);
});

test('read cursors only move forward and answer seen-by and unread counts', () => {
  const cursors = new ReadCursors();
  assert.equal(cursors.update('lobby', 'bob', 5), true);
  assert.equal(cursors.update('lobby', 'bob', 3), false, 'a cursor never moves back');
  cursors.update('lobby', 'carol', 8);
  assert.deepEqual(cursors.seenBy('lobby', 6), ['carol']);
  assert.equal(cursors.unread('lobby', 'bob', 10), 5);
  assert.equal(cursors.cursor('lobby', 'nobody'), 0);
});

test('LocalStorageStore keeps seqs under its prefix and ignores values it did not write', () => {
  const data = new Map<string, string>();
  const storage: StorageLike = { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v), removeItem: (k) => void data.delete(k) };
  const store = new LocalStorageStore('u1:', storage);
  assert.equal(store.get('lobby'), undefined);
  store.set('lobby', 42);
  assert.equal(data.get('u1:lobby'), '42');
  assert.equal(new LocalStorageStore('u1:', storage).get('lobby'), 42, 'another instance (a reload) reads it back');
  data.set('u1:junk', 'NaN');
  assert.equal(store.get('junk'), undefined);
  store.delete('lobby');
  assert.equal(store.get('lobby'), undefined);
  assert.throws(() => new LocalStorageStore(), /no localStorage/);
});

test('a listener that throws does not stop the other listeners', () => {
  const errors: unknown[] = [];
  const emitter = new Emitter<{ x: number }>((e) => errors.push(e));
  const got: number[] = [];
  emitter.on('x', () => {
    throw new Error('boom');
  });
  const off = emitter.on('x', (n) => got.push(n));
  emitter.once('x', (n) => got.push(n * 10));
  emitter.emit('x', 1);
  off();
  emitter.emit('x', 2);
  assert.deepEqual(got, [1, 10]);
  assert.equal(errors.length, 2);
});

test('the user id is read from the token, and the token goes in the query of the URL', () => {
  assert.equal(readClaims(mintToken('alice@example.com')).sub, 'alice@example.com');
  assert.deepEqual(readClaims('not.a-token'), {});
  const url = new URL(withToken('wss://h.example/prod?x=1', 'a.b.c'));
  assert.equal(url.searchParams.get('token'), 'a.b.c');
  assert.equal(url.searchParams.get('x'), '1');
  const handshake = new URL(handshakeUrl('wss://h.example/prod?token=old', 'a.b.c'));
  assert.equal(handshake.searchParams.get('token'), 'a.b.c', 'a stale token in the URL is replaced');
  assert.equal(handshake.searchParams.get('batch'), '1');
});

test("the platform's WebSocket type fits options.WebSocket without a cast", () => {
  // A compile-time check as much as a run-time one: the browser's (DOM) WebSocket class must be
  // assignable to the SDK's constructor type, or every app would need a cast.
  const ctor: WebSocketConstructor = WebSocket;
  assert.equal(typeof ctor, 'function');
});

test('clientMsgIds are UUID v4, also where crypto.randomUUID is missing (insecure browser contexts)', () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(newClientMsgId(), uuid);
  Object.defineProperty(globalThis.crypto, 'randomUUID', { value: undefined, configurable: true });
  try {
    assert.equal(typeof globalThis.crypto.randomUUID, 'undefined');
    const ids = new Set(Array.from({ length: 100 }, () => newClientMsgId()));
    assert.equal(ids.size, 100);
    for (const id of ids) assert.match(id, uuid);
  } finally {
    delete (globalThis.crypto as { randomUUID?: unknown }).randomUUID;
  }
  assert.equal(typeof globalThis.crypto.randomUUID, 'function');
});
