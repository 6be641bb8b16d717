// The offline outbox: sends survive disconnects, are retried safely with their clientMsgId, and
// settle with the server's verdict.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { StarlingError } from '../../dist/index.js';
import { settle, until } from '../support/fake-server.js';
import { type Rig, rig } from '../support/setup.js';

let current: Rig | undefined;
afterEach(() => current?.client.close());
const start = (...args: Parameters<typeof rig>): Rig => (current = rig(...args));

test('a send while disconnected waits in the outbox and resolves once the server accepts it after connecting', async () => {
  const r = start();
  r.server.admit = () => 'hold';
  const joined = r.client.join('lobby');
  const sent = r.client.send('lobby', 'written offline', { clientMsgId: 'c-1' });
  await settle(20);
  assert.equal(r.client.outboxSize, 1);
  r.server.last.accept();
  await joined;
  const receipt = await sent;
  assert.equal(receipt.clientMsgId, 'c-1');
  assert.equal(receipt.attempts, 1);
  await until(() => r.messages.length === 1, 'the message event');
  assert.equal(r.messages[0]?.clientMsgId, 'c-1');
  assert.equal(r.client.outboxSize, 0);
});

test('a send whose connection drops before accepted is resent with the same clientMsgId and stored once', async () => {
  const r = start();
  await r.client.join('lobby');
  const first = r.server.last;
  // The server stores the message but the connection dies before `accepted` reaches the client.
  r.server.hook = (socket, request) => {
    if (request.action !== 'send' || socket !== first) return 'default';
    r.server.store('lobby', socket.user, request.body as string, request.clientMsgId as string);
    socket.drop(1006);
    return 'handled';
  };
  const sent = r.client.send('lobby', 'exactly once');
  const receipt = await sent;
  assert.equal(receipt.attempts, 2, 'sent on the first connection, then again on the second');
  const [a, b] = [first.requests('send')[0], r.server.last.requests('send')[0]];
  assert.equal(a?.clientMsgId, b?.clientMsgId, 'the retry reuses the clientMsgId');
  await until(() => r.messages.length >= 1, 'the synced message');
  await settle(20);
  assert.deepEqual(r.seqs('lobby'), [1], 'the application sees the message once');
});

test('sends to one room go out one at a time, in the order the application made them', async () => {
  const r = start();
  await r.client.join('lobby');
  let release: (() => void) | undefined;
  r.server.hook = (socket, request) => {
    if (request.action !== 'send' || release !== undefined) return 'default';
    release = () => r.server.receive(socket, request);
    return 'handled';
  };
  const receipts = ['one', 'two', 'three'].map((body) => r.client.send('lobby', body));
  await settle(20);
  assert.equal(r.server.last.requests('send').length, 1, 'the second waits for the first accepted');
  r.server.hook = () => 'default';
  release?.();
  await Promise.all(receipts);
  assert.deepEqual(r.server.last.requests('send').map((f) => f.body), ['one', 'two', 'three']);
  await until(() => r.messages.length === 3, 'three messages');
  assert.deepEqual(r.messages.map((m) => m.body), ['one', 'two', 'three']);
});

test('rate_limited is retried after retryAfterMs with the same clientMsgId, then resolves', async () => {
  const r = start();
  await r.client.join('lobby');
  let refusals = 0;
  r.server.hook = (socket, request) => {
    if (request.action !== 'send' || refusals > 0) return 'default';
    refusals += 1;
    socket.push({ type: 'error', code: 'rate_limited', message: 'slow down', action: 'send', clientMsgId: request.clientMsgId, retryAfterMs: 80 });
    return 'handled';
  };
  const began = Date.now();
  const receipt = await r.client.send('lobby', 'patient');
  assert.ok(Date.now() - began >= 75, `waited ${Date.now() - began} ms, less than retryAfterMs`);
  assert.equal(receipt.attempts, 2);
  const ids = r.server.last.requests('send').map((f) => f.clientMsgId);
  assert.equal(ids.length, 2);
  assert.equal(ids[0], ids[1]);
});

test('a refusal the server will repeat rejects the promise with the server code, and the next message still goes', async () => {
  const r = start();
  await r.client.join('lobby');
  r.server.hook = (socket, request) => {
    if (request.action !== 'send' || request.body !== 'refused') return 'default';
    socket.push({ type: 'error', code: 'forbidden', message: 'dm:bob:carol is not open to you', action: 'send', clientMsgId: request.clientMsgId });
    return 'handled';
  };
  const refused = r.client.send('lobby', 'refused', { clientMsgId: 'c-9' });
  const next = r.client.send('lobby', 'fine');
  await assert.rejects(refused, (e: unknown) => e instanceof StarlingError && e.code === 'forbidden' && e.clientMsgId === 'c-9' && !e.local);
  await next;
  assert.equal(r.server.last.requests('send').filter((f) => f.body === 'refused').length, 1, 'not retried');
});

test('internal is retried up to maxSendAttempts, then rejects with internal', async () => {
  const r = start({ maxSendAttempts: 3, backoff: { initialDelayMs: 1, maxDelayMs: 2 } });
  await r.client.join('lobby');
  r.server.hook = (socket, request) => {
    if (request.action !== 'send') return 'default';
    socket.push({ type: 'error', code: 'internal', message: 'queue unavailable', action: 'send', clientMsgId: request.clientMsgId });
    return 'handled';
  };
  await assert.rejects(r.client.send('lobby', 'doomed'), (e: unknown) => e instanceof StarlingError && e.code === 'internal');
  assert.equal(r.server.last.requests('send').length, 3);
});

test("API Gateway's error frame without type counts as internal for the send out, which is retried", async () => {
  const r = start();
  await r.client.join('lobby');
  let failed = false;
  r.server.hook = (socket, request) => {
    if (request.action !== 'send' || failed) return 'default';
    failed = true;
    socket.push({ message: 'Internal server error', connectionId: 'L0SM9cOFvHcCIhw=', requestId: 'L0SM9cOFvHcCIhw=' });
    return 'handled';
  };
  const receipt = await r.client.send('lobby', 'again');
  assert.equal(receipt.attempts, 2);
});

test('a body over the server limit is refused locally with too_large, and one exactly at it is sent', async () => {
  const r = start();
  await r.client.join('lobby');
  const atLimit = 'é'.repeat(8_192); // 16 384 bytes of UTF-8, 8 192 characters
  const overLimit = `${atLimit}x`;
  await assert.rejects(r.client.send('lobby', overLimit), (e: unknown) => e instanceof StarlingError && e.code === 'too_large' && e.local);
  await assert.rejects(r.client.send('lobby', ''), (e: unknown) => e instanceof StarlingError && e.code === 'bad_request' && e.local);
  await assert.rejects(r.client.send('lobby', 'x', { clientMsgId: 'c'.repeat(65) }), (e: unknown) => e instanceof StarlingError && e.code === 'bad_request');
  await assert.rejects(r.client.send('not joined', 'x'), (e: unknown) => e instanceof StarlingError && e.code === 'bad_request');
  await assert.rejects(r.client.send('elsewhere', 'x'), (e: unknown) => e instanceof StarlingError && e.code === 'forbidden' && e.local);
  await r.client.send('lobby', atLimit);
  assert.equal(r.server.last.requests('send').length, 1, 'only the message at the limit reached the server');
});

test('close rejects every queued send with closed', async () => {
  const r = start();
  r.server.admit = () => 'hold';
  void r.client.join('lobby').catch(() => undefined);
  const queued = r.client.send('lobby', 'never');
  await settle(5);
  r.client.close();
  await assert.rejects(queued, (e: unknown) => e instanceof StarlingError && e.code === 'closed');
  assert.equal(r.client.state, 'disconnected');
});

test('a send rejected by moderation rejects once with its reason and is not resent', async () => {
  const r = start();
  await r.client.join('lobby');
  r.server.hook = (socket, request) => {
    if (request.action !== 'send' || request.body !== 'contraband') return 'default';
    socket.push({ type: 'error', code: 'rejected', message: 'rejected by moderation', action: 'send', clientMsgId: request.clientMsgId, reason: 'blocked_term' });
    return 'handled';
  };
  const refused = r.client.send('lobby', 'contraband', { clientMsgId: 'c-mod' });
  await assert.rejects(refused, (e: unknown) => e instanceof StarlingError && e.code === 'rejected' && e.reason === 'blocked_term');
  await settle(50);
  assert.equal(r.server.last.requests('send').length, 1, 'a rejected message is not retried');
  assert.equal(r.client.outboxSize, 0);
});
