// Every frame a real devstack sends to the SDK, checked against docs/asyncapi.yaml: the server,
// the spec and the generated types must agree.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { StarlingError, type WebSocketConstructor } from '../../dist/index.js';
import { type Devstack, startDevstack } from '../support/devstack.js';
import { type LiveClient, eventually, liveClient, mintToken } from '../support/live.js';
import { frameProblem } from '../support/spec.js';

let devstack: Devstack;
const clients: LiveClient[] = [];
const received: string[] = [];

/** The platform's WebSocket, recording every text message it receives. */
const Recording = class extends WebSocket {
  constructor(url: string) {
    super(url);
    this.addEventListener('message', (event) => {
      if (typeof event.data === 'string') received.push(event.data);
    });
  }
} as unknown as WebSocketConstructor;

before(async () => {
  devstack = await startDevstack();
});
after(async () => {
  for (const c of clients) c.client.close();
  await devstack.stop();
});

test('every kind of frame the devstack sends matches its schema in docs/asyncapi.yaml', async () => {
  const alice = liveClient(devstack.wsUrl, 'alice', { WebSocket: Recording });
  const bob = liveClient(devstack.wsUrl, 'bob', { WebSocket: Recording });
  clients.push(alice, bob);
  const errors: StarlingError[] = [];
  alice.client.on('error', (e) => errors.push(e));
  await alice.client.join('frames');
  await bob.client.join('frames');
  await alice.client.send('frames', 'one', { clientMsgId: 'c-1' });
  await alice.client.send('frames', 'two');
  await eventually(() => bob.messages.length === 2, () => `bob has ${bob.messages.length}`);
  assert.equal(alice.client.typing('frames'), true);
  await alice.client.history('frames', { limit: 1 });
  await alice.client.presence('frames');
  await alice.client.setStatus('away');
  await alice.client.markRead('frames', 2);
  // The counters follow each delivery: ask until both messages are in.
  let stats = await alice.client.stats('frames', { minutes: 5 });
  for (let tries = 0; stats.totals.messages < 2 && tries < 50; tries += 1) {
    await new Promise((r) => setTimeout(r, 50));
    stats = await alice.client.stats('frames', { minutes: 5 });
  }
  assert.deepEqual({ ...stats.totals, minutes: stats.minutes.length, hasMore: stats.hasMore }, { messages: 2, senders: 1, deliveries: 4, minutes: stats.minutes.length, hasMore: false });
  assert.ok(stats.minutes.length >= 1 && stats.minutes.every((m) => /^\d{4}-\d\d-\d\dT\d\d:\d\dZ$/.test(m.minute)));
  await assert.rejects(bob.client.stats('frames', { minutes: 0 }), (e: unknown) => e instanceof StarlingError && e.code === 'bad_request');
  await alice.client.ping();
  await assert.rejects(alice.client.markRead('frames', 99), (e: unknown) => e instanceof StarlingError && e.code === 'bad_request');
  await assert.rejects(alice.client.join('dm:bob:carol'), (e: unknown) => e instanceof StarlingError && e.code === 'forbidden');
  // A resume: a drop, a message while away, and the sync that brings it back in a syncPage.
  alice.client.dropConnection();
  await bob.client.send('frames', 'three');
  await eventually(() => alice.messages.length === 3, () => `alice has ${alice.messages.length}`);
  await eventually(() => received.some((f) => f.includes('"type":"typing"')), () => 'no typing frame');
  await bob.client.leave('frames');

  const types = new Set(received.map((f) => (JSON.parse(f) as { type?: string }).type));
  for (const t of ['joined', 'accepted', 'messages', 'history', 'syncPage', 'synced', 'presence', 'presenceChanged', 'typing', 'read', 'stats', 'pong', 'error', 'left']) {
    assert.ok(types.has(t), `no ${t} frame was seen`);
  }
  const problems = received.map((f) => [f, frameProblem(JSON.parse(f))]).filter(([, p]) => p !== undefined);
  assert.deepEqual(problems, [], 'frames that do not match the spec');
});

test('a refused request without the SDK (an unknown action) also gets a frame of the spec', async () => {
  const socket = new WebSocket(`${devstack.wsUrl}?token=${mintToken('raw')}`);
  const frames: unknown[] = [];
  socket.addEventListener('message', (e) => frames.push(JSON.parse(String(e.data))));
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve);
    socket.addEventListener('error', reject);
  });
  socket.send(JSON.stringify({ action: 'dance' }));
  socket.send('not json');
  socket.send(JSON.stringify({ action: 'send', room: 'nowhere', body: 'x', clientMsgId: 'c-2' }));
  await eventually(() => frames.length === 3, () => `${frames.length} replies`);
  socket.close();
  assert.deepEqual(frames.map((f) => (f as { code: string }).code), ['unknown_action', 'bad_request', 'forbidden']);
  assert.deepEqual(frames.map(frameProblem), [undefined, undefined, undefined]);
});
