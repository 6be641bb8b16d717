import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, type Message } from '../../dist/index.js';
import { type Devstack, startDevstack } from '../support/devstack.js';
import { mintToken } from '../support/jwt.js';

let devstack: Devstack;
before(async () => {
  devstack = await startDevstack();
});
after(async () => {
  await devstack.stop();
});

test('a client joins, sends, and receives its own message with a seq', async () => {
  const client = connect(devstack.wsUrl, () => mintToken('alice'));
  try {
    const seen: Message[] = [];
    client.on('message', (m) => seen.push(m));
    const joined = await client.join('smoke');
    assert.equal(joined.lastSeq, 0);
    const receipt = await client.send('smoke', 'hello');
    assert.equal(receipt.room, 'smoke');
    await waitFor(() => seen.length === 1);
    assert.equal(seen[0]?.body, 'hello');
    assert.equal(seen[0]?.seq, 1);
    assert.equal(seen[0]?.clientMsgId, receipt.clientMsgId);
    assert.equal(client.state, 'connected');
  } finally {
    client.close();
  }
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
