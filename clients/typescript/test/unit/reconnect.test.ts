// Drops, refused handshakes and token refresh: the connection comes back by itself, asks for a
// fresh token when the old one was refused, and spaces its attempts with backoff.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { MemoryStore, StarlingError, connect } from '../../dist/index.js';
import { FakeServer, settle, until } from '../support/fake-server.js';
import { mintToken } from '../support/jwt.js';
import { FAST, type Rig, range, rig } from '../support/setup.js';

let current: Rig | undefined;
afterEach(() => current?.client.close());
const start = (...args: Parameters<typeof rig>): Rig => (current = rig(...args));

test('the state goes connecting, connected, reconnecting, connected, disconnected', async () => {
  const r = start();
  await r.client.connected();
  r.server.last.drop(1001, 'Going away');
  await until(() => r.server.sockets.length === 2 && r.client.state === 'connected', 'the reconnect');
  r.client.close();
  assert.deepEqual(r.states.map((s) => s.state), ['connected', 'reconnecting', 'connected', 'disconnected']);
  assert.equal(r.states[0]?.previous, 'connecting');
  assert.equal(r.states[1]?.code, 1001, 'reconnecting carries the close code');
});

test('the token provider is called again on every reconnect', async () => {
  const r = start();
  await r.client.connected();
  for (let i = 0; i < 3; i++) {
    r.server.last.drop(1006);
    await until(() => r.server.open.length === 1 && r.client.state === 'connected', `reconnect ${i + 1}`);
  }
  assert.deepEqual(r.tokenRequests.map((t) => t.reason), ['connect', 'reconnect', 'reconnect', 'reconnect']);
  assert.ok(r.tokenRequests.every((t) => !t.forceRefresh), 'plain drops do not force a refresh');
});

test('a refused handshake (an expired token) makes the next token request force a refresh', async () => {
  const r = start();
  await r.client.connected();
  let refusals = 2;
  r.server.admit = () => (refusals-- > 0 ? 'refuse' : 'accept');
  r.server.last.drop(1001);
  await until(() => r.client.state === 'connected' && r.server.sockets.length === 4, 'a connection after two refusals');
  const after = r.tokenRequests.slice(1);
  assert.deepEqual(after.map((t) => [t.forceRefresh, t.attempt]), [[false, 0], [true, 1], [true, 2]]);
  r.server.last.drop(1006);
  await until(() => r.tokenRequests.length === 5, 'the next reconnect');
  assert.equal(r.tokenRequests[4]?.forceRefresh, false, 'a successful connection clears the refresh flag');
});

test('a handshake that fails with an error event and no close (Node 20) is retried with a refreshed token', async () => {
  const r = start();
  let failures = 1;
  r.server.admit = () => (failures-- > 0 ? 'error-only' : 'accept');
  const began = Date.now();
  await r.client.connected();
  assert.ok(Date.now() - began < 500, 'the error alone ends the attempt; it does not wait for the connect timeout');
  assert.deepEqual(r.tokenRequests.map((t) => [t.reason, t.forceRefresh]), [['connect', false], ['connect', true]]);
});

test('a close for policy reasons (1008, 4xxx) also forces a token refresh', async () => {
  const r = start();
  await r.client.connected();
  r.server.last.drop(4001, 'token revoked');
  await until(() => r.tokenRequests.length === 2, 'the reconnect');
  assert.equal(r.tokenRequests[1]?.forceRefresh, true);
});

test('a failing token provider is retried with backoff and reported as an error event', async () => {
  const server = new FakeServer();
  let calls = 0;
  const client = connect(
    'ws://starling.test/local',
    () => {
      calls += 1;
      if (calls <= 2) throw new Error('the token endpoint is down');
      return mintToken('alice');
    },
    { ...FAST, WebSocket: server.WebSocket },
  );
  const errors: StarlingError[] = [];
  client.on('error', (e) => errors.push(e));
  try {
    await client.connected();
    assert.equal(calls, 3);
    assert.equal(server.sockets.length, 1, 'no handshake without a token');
    assert.deepEqual(errors.map((e) => [e.code, e.local]), [['unauthorized', true], ['unauthorized', true]]);
    assert.match(errors[0]?.message ?? '', /token endpoint is down/);
  } finally {
    client.close();
  }
});

test('reconnect attempts are spaced by growing, jittered delays, reset after a stable connection', async () => {
  const r = start({ backoff: { initialDelayMs: 40, maxDelayMs: 1_000 }, random: () => 0.999, stableAfterMs: 50 });
  await r.client.connected();
  r.server.admit = () => 'refuse';
  const opened: number[] = [];
  const began = Date.now();
  r.server.last.drop(1006);
  for (let n = 2; n <= 5; n++) {
    await r.server.nextSocket(n);
    opened.push(Date.now() - began);
  }
  const gaps = opened.slice(1).map((t, i) => t - (opened[i] ?? 0));
  // Ceilings 40, 80, 160, 320 ms with random ≈ 1: each wait about doubles.
  assert.ok((gaps[0] ?? 0) >= 70 && (gaps[1] ?? 0) >= 150 && (gaps[2] ?? 0) >= 300, `waits ${gaps.join(', ')} ms`);
  r.server.admit = () => 'accept';
  await until(() => r.client.state === 'connected', 'the connection', 5_000);
  await settle(80);
  const before = r.server.sockets.length;
  const dropped = Date.now();
  r.server.last.drop(1006);
  await r.server.nextSocket(before + 1);
  assert.ok(Date.now() - dropped < 70, 'after a stable connection the first wait is short again');
});

test("the browser's online event starts a waiting reconnect at once instead of after its backoff delay", async () => {
  const network = new EventTarget();
  const r = start({ network, backoff: { initialDelayMs: 60_000, maxDelayMs: 60_000 }, random: () => 0.999 });
  await r.client.connected();
  r.server.last.drop(1006);
  await until(() => r.client.state === 'reconnecting', 'reconnecting');
  await settle(30);
  assert.equal(r.server.sockets.length, 1, 'still waiting out a delay of about a minute');
  network.dispatchEvent(new Event('online'));
  await until(() => r.client.state === 'connected', 'the reconnect', 1_000);
  assert.equal(r.server.sockets.length, 2);
});

test('a drop mid-stream loses nothing: the next connection syncs from the last seq handed over', async () => {
  const r = start();
  await r.client.join('lobby');
  for (let i = 1; i <= 5; i++) r.server.publish('lobby', 'bob', `m${i}`);
  await until(() => r.messages.length === 5, 'five live messages');
  r.server.last.drop(1006);
  // Sent while the client is away: only sync can bring them.
  for (let i = 6; i <= 12; i++) r.server.store('lobby', 'bob', `m${i}`);
  await until(() => r.messages.length === 12, 'the synced messages');
  const sync = r.server.last.requests('sync')[0];
  assert.deepEqual(sync, { action: 'sync', rooms: { lobby: 5 }, pages: true });
  assert.deepEqual(r.seqs('lobby'), range(1, 12));
});

test('rooms are joined again after a reconnect before the sync, and the join promise resolves only once', async () => {
  const r = start();
  const joins: number[] = [];
  void r.client.join('a').then((j) => joins.push(j.lastSeq));
  await r.client.join('b');
  r.server.last.drop(1006);
  await until(() => r.client.state === 'connected' && r.server.sockets.length === 2, 'the reconnect');
  await until(() => r.server.last.requests('sync').length === 1, 'the sync');
  const sent = r.server.last.sent.map((f) => f.action);
  assert.deepEqual(sent.slice(0, 3), ['join', 'join', 'sync'], 'both joins go before the sync');
  assert.deepEqual(joins, [0]);
});

test('a stored seq resumes the room after it, as after a page reload', async () => {
  const store = new MemoryStore();
  store.set('lobby', 3);
  const r = start({ store });
  for (let i = 1; i <= 6; i++) r.server.store('lobby', 'bob', `m${i}`);
  const joined = await r.client.join('lobby');
  assert.equal(joined.delivered, 3);
  await until(() => r.messages.length === 3, 'the missed messages');
  assert.deepEqual(r.seqs('lobby'), [4, 5, 6]);
  assert.equal(store.get('lobby'), 6, 'the store follows what was handed over');
});

test('without a stored seq a room starts at its last seq when joined (older ones come from history)', async () => {
  const r = start();
  for (let i = 1; i <= 4; i++) r.server.store('lobby', 'bob', `m${i}`);
  const joined = await r.client.join('lobby');
  assert.deepEqual([joined.lastSeq, joined.delivered], [4, 4]);
  r.server.publish('lobby', 'bob', 'm5');
  await until(() => r.messages.length === 1, 'the live message');
  assert.deepEqual(r.seqs('lobby'), [5]);
  const page = await r.client.history('lobby', { limit: 2 });
  assert.deepEqual(page.messages.map((m) => m.seq), [4, 5]);
  assert.equal(page.hasMore, true);
});

test('a room left while offline is left on the server once connected (join, then leave)', async () => {
  const r = start();
  await r.client.join('lobby');
  r.server.admit = () => 'hold';
  r.server.last.drop(1006);
  await until(() => r.client.state === 'reconnecting', 'reconnecting');
  const left = r.client.leave('lobby');
  await until(() => r.server.sockets.length === 2, 'the reconnect attempt');
  r.server.last.accept();
  await left;
  assert.deepEqual(r.server.last.sent.map((f) => f.action), ['join', 'leave']);
  assert.deepEqual(r.client.rooms, []);
});

test('a store that fails to read does not stop the room from being joined', async () => {
  const errors: string[] = [];
  const r = start({ store: { get: () => Promise.reject(new Error('quota')), set: () => undefined } });
  r.client.on('error', (e) => errors.push(e.message));
  const joined = await r.client.join('lobby');
  assert.equal(joined.delivered, 0);
  assert.equal(errors.length, 1);
});

test('close ends every connection and stops reconnecting', async () => {
  const r = start();
  await r.client.connected();
  r.client.close();
  await settle(50);
  assert.equal(r.server.sockets.length, 1);
  assert.equal(r.server.last.closedBy, 'client');
  await assert.rejects(r.client.connected(), (e: unknown) => e instanceof StarlingError && e.code === 'closed');
});
