// Resume after a reconnect through a client on the fake server: sync and live overlap, a drop
// in the middle of a sync, retention gaps, refused syncs.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { settle, until } from '../support/fake-server.js';
import { type Rig, range, rig } from '../support/setup.js';

let current: Rig | undefined;
afterEach(() => current?.client.close());
const start = (...args: Parameters<typeof rig>): Rig => (current = rig(...args));

test('live messages that overlap the sync, ahead of it and twice, reach the application once and in order', async () => {
  const r = start();
  await r.client.join('lobby');
  r.server.last.drop(1006);
  for (let i = 1; i <= 9; i++) r.server.store('lobby', 'bob', `m${i}`);
  r.server.hook = (socket, request) => {
    if (request.action !== 'sync') return 'default';
    const frames = r.server.syncFrames(request.rooms as Record<string, number>);
    // Seq 10 and 11 are sent during the sync: 11 arrives live before the first page, 10 arrives
    // live twice, and the pages repeat 3 (as a redelivery would).
    const ten = r.server.store('lobby', 'bob', 'm10');
    const eleven = r.server.store('lobby', 'bob', 'm11');
    socket.push({ type: 'message', ...eleven });
    socket.push(frames[0] ?? {});
    socket.push({ type: 'message', ...ten });
    socket.push({ type: 'syncPage', room: 'lobby', messages: [r.server.room('lobby').messages[2]] });
    for (const f of frames.slice(1)) socket.push(f);
    socket.push({ type: 'message', ...ten });
    return 'handled';
  };
  await until(() => r.messages.length >= 11, 'eleven messages');
  await settle(20);
  assert.deepEqual(r.seqs('lobby'), range(1, 11));
});

test('a drop in the middle of a sync resumes from what was handed over, losing and repeating nothing', async () => {
  const r = start();
  await r.client.join('lobby');
  r.server.last.drop(1006);
  for (let i = 1; i <= 20; i++) r.server.store('lobby', 'bob', `m${i}`);
  let cut = true;
  r.server.hook = (socket, request) => {
    if (request.action !== 'sync' || !cut) return 'default';
    cut = false;
    const frames = r.server.syncFrames(request.rooms as Record<string, number>);
    for (const f of frames.slice(0, 2)) socket.push(f);
    socket.drop(1006);
    return 'handled';
  };
  await until(() => r.messages.length >= 20, 'twenty messages');
  await settle(20);
  assert.deepEqual(r.seqs('lobby'), range(1, 20));
  const resumedFrom = r.server.last.requests('sync')[0]?.rooms as Record<string, number>;
  assert.equal(resumedFrom.lobby, 6, 'two pages of three were handed over before the drop');
});

test('a live gap while connected is filled by a sync of that room', async () => {
  const r = start();
  await r.client.join('lobby');
  await until(() => r.server.log.includes('sync 1'), 'the first sync answered');
  await settle(10);
  r.server.store('lobby', 'bob', 'posted to nobody');
  r.server.publish('lobby', 'bob', 'the next one');
  await until(() => r.messages.length === 2, 'both messages');
  assert.deepEqual(r.seqs('lobby'), [1, 2]);
  assert.deepEqual(r.server.last.requests('sync')[1], { action: 'sync', rooms: { lobby: 0 }, pages: true });
});

test('recovered:false falls back to the newest history page and reports the skipped seqs as a gap', async () => {
  const r = start({ gapHistoryLimit: 5 });
  await r.client.join('lobby');
  r.server.last.drop(1006);
  for (let i = 1; i <= 30; i++) r.server.store('lobby', 'bob', `m${i}`);
  r.server.room('lobby').retainedFrom = 11; // 1–10 expired
  await until(() => r.messages.length >= 5, 'the history page');
  await settle(20);
  assert.deepEqual(r.seqs('lobby'), range(26, 30), 'the newest page, not a replay of 20 stale messages');
  assert.deepEqual(r.gaps, [{ room: 'lobby', fromSeq: 1, toSeq: 25 }]);
  assert.equal(r.server.last.requests('history')[0]?.limit, 5);
  r.server.publish('lobby', 'bob', 'live again');
  await until(() => r.messages.length === 6, 'the next live message');
  assert.equal(r.client.lastSeq('lobby'), 31);
});

test('a sync refused for one room does not hold up the others', async () => {
  const r = start();
  await r.client.join('open');
  await r.client.join('secret');
  const errors: string[] = [];
  r.client.on('error', (e) => errors.push(`${e.code} ${e.message}`));
  r.server.last.drop(1006);
  r.server.store('open', 'bob', 'm1');
  r.server.hook = (socket, request) => {
    if (request.action !== 'sync') return 'default';
    const rooms = { ...(request.rooms as Record<string, number>) };
    delete rooms.secret;
    socket.push({ type: 'error', code: 'forbidden', message: 'secret: join secret first', action: 'sync' });
    for (const f of r.server.syncFrames(rooms)) socket.push(f);
    return 'handled';
  };
  await until(() => r.messages.length === 1, 'the open room');
  assert.deepEqual(errors, ['forbidden secret: join secret first']);
  await settle(20);
  assert.equal(r.server.last.requests('sync').length, 1, 'the refused room is not retried in a loop');
});

test('a whole sync refused with rate_limited is sent again after retryAfterMs', async () => {
  const r = start();
  await r.client.join('lobby');
  r.client.on('error', () => undefined);
  r.server.last.drop(1006);
  r.server.store('lobby', 'bob', 'm1');
  let refused = false;
  r.server.hook = (socket, request) => {
    if (request.action !== 'sync' || refused) return 'default';
    refused = true;
    socket.push({ type: 'error', code: 'rate_limited', message: 'wait', action: 'sync', retryAfterMs: 60 });
    return 'handled';
  };
  const began = Date.now();
  await until(() => r.messages.length === 1, 'the message after the retry');
  assert.ok(Date.now() - began >= 55, 'not before retryAfterMs');
  assert.equal(r.server.last.requests('sync').length, 2);
});

test('live messages before the first joined are kept and merged once the start seq is known', async () => {
  const r = start();
  for (let i = 1; i <= 3; i++) r.server.store('lobby', 'bob', `m${i}`);
  r.server.hook = (socket, request) => {
    if (request.action !== 'join') return 'default';
    socket.rooms.add('lobby');
    // The fanout posts 4 (and a repeat of 3) before the join's reply goes out.
    socket.push({ type: 'message', ...r.server.room('lobby').messages[2] });
    socket.push({ type: 'message', ...r.server.store('lobby', 'bob', 'm4') });
    socket.push({ type: 'joined', room: 'lobby', lastSeq: 3 });
    return 'handled';
  };
  await r.client.join('lobby');
  await settle(20);
  assert.deepEqual(r.seqs('lobby'), [4]);
});

test('messages frames, overlapping, repeated and out of step with the sync, reach the application once and in order', async () => {
  const r = start();
  await r.client.join('lobby');
  assert.equal(new URL(r.server.last.url).searchParams.get('batch'), '1', 'the client opts in to messages frames');
  r.server.last.drop(1006);
  for (let i = 1; i <= 6; i++) r.server.store('lobby', 'bob', `m${i}`);
  r.server.hook = (socket, request) => {
    if (request.action !== 'sync') return 'default';
    const frames = r.server.syncFrames(request.rooms as Record<string, number>);
    const seven = r.server.store('lobby', 'bob', 'm7');
    const eight = r.server.store('lobby', 'bob', 'm8');
    const all = r.server.room('lobby').messages;
    // A live batch ahead of the sync, then a retried batch repeating 5 to 8 after it.
    socket.push({ type: 'messages', room: 'lobby', messages: [seven, eight] });
    for (const f of frames) socket.push(f);
    socket.push({ type: 'messages', room: 'lobby', messages: all.slice(4, 8) });
    return 'handled';
  };
  await until(() => r.messages.length >= 8, 'eight messages');
  await settle(20);
  assert.deepEqual(r.seqs('lobby'), range(1, 8));
});
