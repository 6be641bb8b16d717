// Against a real devstack: the outbox across a reconnect, an expired token refreshed, and
// planned reconnects in the middle of a stream.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TokenRequest } from '../../dist/index.js';
import { type Devstack, startDevstack } from '../support/devstack.js';
import { type LiveClient, eventually, liveClient, mintToken, range } from '../support/live.js';

let devstack: Devstack;
const clients: LiveClient[] = [];
before(async () => {
  devstack = await startDevstack(['--rate-limit', '100000']);
});
after(async () => {
  for (const c of clients) c.client.close();
  await devstack.stop();
});
const live = (...args: Parameters<typeof liveClient>): LiveClient => {
  const c = liveClient(...args);
  clients.push(c);
  return c;
};

test('messages sent while disconnected wait in the outbox and are delivered once, in order, after the reconnect', async () => {
  let hold: Promise<void> | undefined;
  let release = (): void => undefined;
  const alice = live(devstack.wsUrl, 'alice', {}, async () => {
    await hold;
    return mintToken('alice');
  });
  const bob = live(devstack.wsUrl, 'bob');
  await Promise.all([alice.client.join('outbox'), bob.client.join('outbox')]);
  // Keep alice offline: her next token request waits until released.
  hold = new Promise((r) => (release = r));
  alice.client.dropConnection();
  await eventually(() => alice.client.state === 'reconnecting', () => `state ${alice.client.state}`);
  const receipts = range(1, 5).map((i) => alice.client.send('outbox', `offline ${i}`));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(alice.client.outboxSize, 5, 'held while offline');
  assert.equal(bob.messages.length, 0, 'nothing reached the room yet');
  release();
  const accepted = await Promise.all(receipts);
  assert.equal(new Set(accepted.map((a) => a.clientMsgId)).size, 5);
  await eventually(() => bob.messages.length >= 5 && alice.messages.length >= 5, () => `bob ${bob.messages.length}, alice ${alice.messages.length}`);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(bob.bodies('outbox'), range(1, 5).map((i) => `offline ${i}`));
  assert.deepEqual(alice.messages.map((m) => m.clientMsgId), accepted.map((a) => a.clientMsgId), "alice's own messages confirm each send, in order");
});

test('an expired token is refused at the reconnect handshake, and the provider is asked to refresh it', async () => {
  let cached = mintToken('carol', 3_600);
  const alice = live(devstack.wsUrl, 'carol', {}, (request: TokenRequest) => {
    // A provider that caches its token and refreshes only when told to.
    if (request.forceRefresh) cached = mintToken('carol', 3_600);
    return cached;
  });
  const bob = live(devstack.wsUrl, 'dave');
  await Promise.all([alice.client.join('tokens'), bob.client.join('tokens')]);
  cached = mintToken('carol', -60); // the cached token expired while connected
  alice.client.dropConnection();
  await bob.client.send('tokens', 'sent while carol was away');
  await eventually(() => alice.messages.length === 1, () => `carol has ${alice.messages.length} messages; token requests ${JSON.stringify(alice.tokenRequests)}`);
  const reconnects = alice.tokenRequests.slice(1);
  assert.deepEqual(reconnects.map((r) => r.forceRefresh), [false, true], 'the refused token is replaced');
  assert.equal(alice.messages[0]?.body, 'sent while carol was away');
  assert.equal(alice.client.state, 'connected');
});

test('planned reconnects in the middle of a stream lose and repeat nothing, and the app never sees a disconnect', async () => {
  const alice = live(devstack.wsUrl, 'erin', { plannedReconnectMs: 300, plannedReconnectJitterMs: 100 });
  const bob = live(devstack.wsUrl, 'frank');
  await Promise.all([alice.client.join('planned'), bob.client.join('planned')]);
  for (let i = 1; i <= 200; i++) {
    void bob.client.send('planned', `m${i}`);
    if (i % 20 === 0) await new Promise((r) => setTimeout(r, 100));
  }
  await eventually(() => alice.messages.length >= 200, () => `${alice.messages.length} of 200`);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(alice.seqs('planned'), range(1, 200));
  const planned = alice.tokenRequests.filter((r) => r.reason === 'planned').length;
  assert.ok(planned >= 2, `${planned} planned reconnects during the stream`);
  assert.deepEqual(alice.states.map((s) => s.state), ['connected']);
});
