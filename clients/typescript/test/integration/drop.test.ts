// Against a real devstack: connections dropped while 200 messages flow, by the client's
// network (an abrupt close) and by the server (API Gateway's connection limit, shortened).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type Devstack, startDevstack } from '../support/devstack.js';
import { type LiveClient, eventually, liveClient, range } from '../support/live.js';

const devstacks: Devstack[] = [];
const clients: LiveClient[] = [];
after(async () => {
  for (const c of clients) c.client.close();
  await Promise.all(devstacks.map((d) => d.stop()));
});

async function stream(devstack: Devstack, room: string, onReceive: (receiver: LiveClient, count: number) => void): Promise<{ receiver: LiveClient; sender: LiveClient }> {
  const receiver = liveClient(devstack.wsUrl, 'alice');
  const sender = liveClient(devstack.wsUrl, 'bob');
  clients.push(receiver, sender);
  receiver.client.on('message', () => onReceive(receiver, receiver.messages.length));
  await Promise.all([receiver.client.join(room), sender.client.join(room)]);
  const receipts = range(1, 200).map((i) => sender.client.send(room, `m${i}`));
  await Promise.all(receipts);
  await eventually(
    () => receiver.messages.length >= 200,
    () => `the receiver has ${receiver.messages.length} of 200 messages\n${devstack.output().slice(-2_000)}`,
  );
  // Anything duplicated would arrive right after; give it the chance to.
  await new Promise((r) => setTimeout(r, 200));
  return { receiver, sender };
}

test('the connection is dropped twice while 200 messages flow, and the application still sees all 200 once and in order', async () => {
  const devstack = await startDevstack(['--rate-limit', '100000']);
  devstacks.push(devstack);
  const dropped: number[] = [];
  const { receiver } = await stream(devstack, 'drops', (r, count) => {
    if (count === 50 || count === 120) {
      dropped.push(count);
      r.client.dropConnection();
    }
  });
  assert.deepEqual(dropped, [50, 120]);
  assert.deepEqual(receiver.seqs('drops'), range(1, 200));
  assert.deepEqual(receiver.bodies('drops'), range(1, 200).map((i) => `m${i}`));
  assert.deepEqual(receiver.states.map((s) => s.state), ['connected', 'reconnecting', 'connected', 'reconnecting', 'connected']);
});

test('the server closes every connection each second (1001) while 200 messages flow, and nothing is lost or repeated', async () => {
  const devstack = await startDevstack(['--rate-limit', '100000', '--max-connection-secs', '1']);
  devstacks.push(devstack);
  const { receiver, sender } = await stream(devstack, 'limits', () => undefined);
  // Slow the stream down enough to span several forced closes.
  for (let i = 201; i <= 260; i++) {
    await sender.client.send('limits', `m${i}`);
    await new Promise((r) => setTimeout(r, 40));
  }
  await eventually(() => receiver.messages.length >= 260, () => `${receiver.messages.length} of 260`);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(receiver.seqs('limits'), range(1, 260));
  const closes = receiver.states.filter((s) => s.state === 'reconnecting');
  assert.ok(closes.length >= 2, `only ${closes.length} forced closes: the stream did not span the limit`);
  assert.ok(closes.every((s) => s.code === 1001), `close codes ${closes.map((s) => s.code).join(', ')}`);
});
