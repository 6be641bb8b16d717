// Keeping a connection alive and replacing it before API Gateway's limits close it.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { settle, until } from '../support/fake-server.js';
import { type Rig, range, rig } from '../support/setup.js';

let current: Rig | undefined;
afterEach(() => current?.client.close());
const start = (...args: Parameters<typeof rig>): Rig => (current = rig(...args));

test('an idle connection sends ping every heartbeat interval', async () => {
  const r = start({ heartbeatIntervalMs: 30 });
  await r.client.connected();
  await settle(110);
  const pings = r.server.last.requests('ping').length;
  assert.ok(pings >= 2 && pings <= 4, `${pings} pings in 110 ms at a 30 ms interval`);
});

test('a busy connection does not ping: its own frames keep it alive', async () => {
  const r = start({ heartbeatIntervalMs: 60 });
  await r.client.join('lobby');
  for (let i = 0; i < 12; i++) {
    await r.client.send('lobby', `m${i}`);
    await settle(10);
  }
  assert.equal(r.server.last.requests('ping').length, 0);
});

test('a ping without pong means a dead connection: the client reconnects', async () => {
  const r = start({ heartbeatIntervalMs: 20, heartbeatTimeoutMs: 40 });
  await r.client.join('lobby');
  const first = r.server.last;
  r.server.hook = (socket, request) => (request.action === 'ping' && socket === first ? 'handled' : 'default');
  await until(() => r.server.sockets.length === 2 && r.client.state === 'connected', 'a new connection');
  assert.equal(first.closedBy, 'client');
  assert.deepEqual(r.states.map((s) => s.state), ['connected', 'reconnecting', 'connected']);
});

test('the planned reconnect opens and joins the new connection before closing the old one', async () => {
  const r = start({ plannedReconnectMs: 60, plannedReconnectJitterMs: 0 });
  await r.client.join('lobby');
  const first = r.server.last;
  const second = await r.server.nextSocket(2);
  await until(() => first.state === 'closed', 'the old connection closes');
  assert.equal(first.closedBy, 'client');
  void second;
  const log = r.server.log.filter((e) => /^(open|join|sync|close)/.test(e));
  assert.deepEqual(log, ['open 1', 'join 1 lobby', 'sync 1', 'open 2', 'join 2 lobby', 'sync 2', 'close 1'], 'make before break');
  assert.equal(r.tokenRequests[1]?.reason, 'planned');
  assert.deepEqual(r.states.map((s) => s.state), ['connected'], 'the application never sees a disconnect');
});

test('no message is lost or repeated across planned reconnects in the middle of a stream', async () => {
  const r = start({ plannedReconnectMs: 25, plannedReconnectJitterMs: 10 });
  await r.client.join('lobby');
  for (let i = 1; i <= 150; i++) {
    r.server.publish('lobby', 'bob', `m${i}`);
    if (i % 10 === 0) await settle(3);
  }
  await until(() => r.messages.length >= 150, '150 messages');
  await settle(30);
  assert.ok(r.server.sockets.length >= 3, `only ${r.server.sockets.length} connections: the planned reconnect did not run`);
  assert.deepEqual(r.seqs('lobby'), range(1, 150));
});

test('sends made during a planned reconnect are accepted once, in order', async () => {
  const r = start({ plannedReconnectMs: 20, plannedReconnectJitterMs: 0, drainMs: 50 });
  await r.client.join('lobby');
  const receipts = [];
  for (let i = 1; i <= 40; i++) {
    receipts.push(r.client.send('lobby', `m${i}`));
    if (i % 5 === 0) await settle(4);
  }
  await Promise.all(receipts);
  await until(() => r.messages.length >= 40, '40 messages');
  await settle(20);
  assert.ok(r.server.sockets.length >= 2);
  assert.deepEqual(r.messages.map((m) => m.body), range(1, 40).map((i) => `m${i}`));
});

test('a planned reconnect whose new connection fails keeps the old one and tries again', async () => {
  const r = start({ plannedReconnectMs: 30, plannedReconnectJitterMs: 0 });
  await r.client.join('lobby');
  const first = r.server.last;
  let refusals = 1;
  r.server.admit = () => (refusals-- > 0 ? 'refuse' : 'accept');
  await until(() => first.state === 'closed', 'the switch after the retry', 2_000);
  assert.equal(r.server.sockets.length, 3, 'one refused, one that took over');
  assert.deepEqual(r.states.map((s) => s.state), ['connected']);
  r.server.publish('lobby', 'bob', 'after');
  await until(() => r.messages.length === 1, 'a message on the new connection');
});

test('the heartbeat and the planned reconnect stay under API Gateway limits', () => {
  assert.throws(() => rig({ heartbeatIntervalMs: 600_000 }).client.close(), RangeError);
  assert.throws(() => rig({ plannedReconnectMs: 7_200_000 }).client.close(), RangeError);
});
