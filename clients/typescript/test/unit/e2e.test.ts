// End-to-end encrypted rooms (docs/e2e.md): devices with real MLS (ts-mls) state talking through
// an in-process server that sequences, keeps one Commit per epoch (conflict for the losers) and
// holds Welcomes until their Commit is stored.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { emptyPskIndex, acceptAll, decodeMlsMessage, processMessage, getCiphersuiteImpl, getCiphersuiteFromName } from 'ts-mls';
import { E2eDevice, E2eError, type E2eRoom, MemoryDeviceStorage, safetyNumber } from '../../dist/index.js';
import { decodeState } from '../../dist/e2e/group.js';
import { FakeE2eServer } from '../support/fake-e2e.js';
import { type Member, type MemberOptions, member } from '../support/e2e.js';
import { until } from '../support/fake-server.js';

const URL = 'ws://starling.test/local';
const ROOM = 'e2e:team';
const started: Member[] = [];
afterEach(() => {
  for (const m of started.splice(0)) m.close();
});

/** A device of `user` on `server` with KeyPackages published (`keys` one-time ones and a last-resort one). */
async function join(server: FakeE2eServer, user: string, options: MemberOptions & { keys?: number } = {}): Promise<Member> {
  const m = await member(URL, user, { device: `${user}-phone`, ...options, client: { WebSocket: server.WebSocket, requestTimeoutMs: 5_000, ...options.client } });
  started.push(m);
  await m.client.connected();
  if ((options.keys ?? 2) > 0) await m.e2e.keys.publish(options.keys ?? 2, { lastResort: true });
  return m;
}

const wait = (condition: () => boolean, what: string): Promise<void> => until(condition, what, 15_000);

/** Waits until `m` is a member of ROOM at `epoch`. */
async function member_at(m: Member, epoch: number): Promise<E2eRoom> {
  const room = await m.room(ROOM);
  await wait(() => room.isMember && room.epoch === epoch, `${m.user} at epoch ${epoch} (is at ${String(room.epoch)})`);
  return room;
}

/** Alice makes the group with `others`, who join from their Welcomes. */
async function group(alice: Member, others: Member[]): Promise<E2eRoom> {
  const room = await alice.room(ROOM);
  const made = await room.create(others.map((o) => o.user));
  assert.equal(made.epoch, 1);
  for (const o of others) await member_at(o, 1);
  return room;
}

test('three devices make a group, exchange messages in order, and the server sees only ciphertext', async () => {
  const server = new FakeE2eServer();
  const [alice, bob, carol] = [await join(server, 'alice'), await join(server, 'bob'), await join(server, 'carol')];
  const room = await alice.room(ROOM);
  const made = await room.create(['bob', 'carol']);
  assert.deepEqual([made.seq, made.epoch, made.conflicts], [1, 1, 0]);
  assert.deepEqual(made.added.map((m) => m.identity).sort(), ['bob/bob-phone', 'carol/carol-phone']);
  const rooms = [room, await member_at(bob, 1), await member_at(carol, 1)];
  // Each Welcome was posted once, to its device, and acknowledged out of the inbox.
  assert.deepEqual(server.welcomesPosted.sort(), [`${ROOM} 1 bob/bob-phone`, `${ROOM} 1 carol/carol-phone`]);
  await wait(() => [...server.inboxes.values()].every((i) => i.length === 0), 'the inboxes emptied by welcomes.ack');

  await rooms[0]!.send('hello from alice');
  await rooms[1]!.send('hello from bob');
  await rooms[2]!.send('hello from carol');
  await rooms[0]!.send('and again alice');
  const expected = ['hello from alice', 'hello from bob', 'hello from carol', 'and again alice'];
  for (const m of [alice, bob, carol]) {
    await wait(() => m.texts(ROOM).length === 4, `${m.user} has 4 messages (${m.texts(ROOM).length})`);
    assert.deepEqual(m.texts(ROOM), expected, `${m.user} reads every message in seq order`);
    assert.deepEqual(m.seqs(ROOM), [2, 3, 4, 5]);
  }
  assert.deepEqual(bob.messages.map((m) => [m.from, m.device, m.own]), [['alice', 'alice-phone', false], ['bob', 'bob-phone', true], ['carol', 'carol-phone', false], ['alice', 'alice-phone', false]]);
  assert.deepEqual(rooms.map((r) => r.members().map((m) => m.identity)), Array(3).fill(['alice/alice-phone', 'bob/bob-phone', 'carol/carol-phone']));
  const stored = server.room(ROOM).messages;
  assert.equal(stored.length, 5);
  for (const m of stored) {
    const bytes = Buffer.from(m.body, 'base64');
    assert.equal(bytes.toString('base64'), m.body, 'the body is padded standard base64');
    assert.ok(decodeMlsMessage(new Uint8Array(bytes), 0) !== undefined, 'the body is an MLS message');
    for (const text of expected) assert.ok(!bytes.includes(Buffer.from(text)) && !m.body.includes(text), 'no plaintext on the server');
  }
  assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], []);
});

test('safety numbers: the same for a member on every side, different between members, and stable', async () => {
  const server = new FakeE2eServer();
  const [alice, bob, carol] = [await join(server, 'alice'), await join(server, 'bob'), await join(server, 'carol')];
  const rooms = [await group(alice, [bob, carol]), await bob.room(ROOM), await carol.room(ROOM)];
  const shape = /^(\d{5} ){11}\d{5}$/;
  for (const who of [alice, bob, carol]) {
    const own = await who.device.safetyNumber();
    assert.match(own, shape);
    for (const r of rooms) assert.equal(await r.safetyNumber(who.user, who.device.id), own, `${who.user}'s number as another member sees it`);
  }
  const numbers = await Promise.all([alice, bob, carol].map((m) => m.device.safetyNumber()));
  assert.equal(new Set(numbers).size, 3, 'every member has its own number');
  // A commit changes the epoch and the member's leaf, not the member's number.
  const before = await rooms[0]!.safetyNumber('bob', 'bob-phone');
  await rooms[1]!.update();
  await member_at(alice, 2);
  assert.equal(await rooms[0]!.safetyNumber('bob', 'bob-phone'), before);
  // The derivation is the documented one.
  const key = bob.device.signaturePublicKey;
  assert.equal(await safetyNumber('bob/bob-phone', key), before);
  assert.notEqual(await safetyNumber('bob/other', key), before, 'the identity is part of it');
  assert.equal(await rooms[0]!.safetyNumber('bob', 'nope'), undefined);
});

test('add and remove: a removed member cannot decrypt anything sent after its removal', async () => {
  const server = new FakeE2eServer();
  const [alice, bob, carol] = [await join(server, 'alice'), await join(server, 'bob'), await join(server, 'carol')];
  const room = await group(alice, [bob]);
  const added = await room.add('carol');
  assert.deepEqual([added.seq, added.epoch, added.added.map((m) => m.identity)], [2, 2, ['carol/carol-phone']]);
  const [bobRoom, carolRoom] = [await member_at(bob, 2), await member_at(carol, 2)];
  await carolRoom.send('carol is in');
  await wait(() => bob.texts(ROOM).includes('carol is in') && alice.texts(ROOM).includes('carol is in'), 'carol read by all');

  const removed: string[] = [];
  bobRoom.on('removed', (c) => removed.push(`${c.from} ${c.epoch}`));
  const out = await room.remove('bob');
  assert.deepEqual([out.epoch, out.removed.map((m) => m.identity)], [3, ['bob/bob-phone']]);
  await wait(() => removed.length === 1, 'bob told he was removed');
  assert.equal(bobRoom.isMember, false);
  await member_at(carol, 3);
  assert.deepEqual(carolRoom.members().map((m) => m.identity), ['alice/alice-phone', 'carol/carol-phone']);

  const secrets = ['after removal 1', 'after removal 2'];
  await room.send(secrets[0]!);
  await carolRoom.send(secrets[1]!);
  await wait(() => alice.texts(ROOM).includes(secrets[1]!) && carol.texts(ROOM).includes(secrets[0]!), 'alice and carol read each other');
  await wait(() => bob.raw.some((m) => m.room === ROOM && m.seq === 6), 'bob received the ciphertexts');
  await bobRoom.idle();
  for (const s of secrets) assert.ok(!bob.texts(ROOM).includes(s), `bob must not read "${s}"`);
  await assert.rejects(bobRoom.send('still here?'), (e: unknown) => e instanceof E2eError && e.code === 'not_member');
  // Bob's last group state itself cannot open them: its keys end at the epoch he was removed in.
  const record = JSON.parse(String(await bob.storage.get(`room:${ROOM}`))) as { state: string };
  const state = decodeState(new Uint8Array(Buffer.from(record.state, 'base64')));
  const cs = await getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'));
  const after = bob.raw.filter((x) => x.seq > 4);
  assert.deepEqual(after.map((m) => m.seq), [5, 6]);
  for (const m of after) {
    const message = decodeMlsMessage(new Uint8Array(Buffer.from(m.body, 'base64')), 0)?.[0];
    assert.ok(message?.wireformat === 'mls_private_message');
    await assert.rejects(processMessage(message, state, emptyPskIndex, acceptAll, cs), `seq ${m.seq} must not decrypt with bob's state`);
  }
});

for (const order of ['the winner first', 'the conflict first'] as const) {
  test(`two members commit in the same epoch: one wins, the other gets conflict and commits again (${order})`, async () => {
    const server = new FakeE2eServer();
    const [alice, bob, carol, dave] = [await join(server, 'alice'), await join(server, 'bob'), await join(server, 'carol'), await join(server, 'dave')];
    const room = await group(alice, [bob]);
    const bobRoom = await bob.room(ROOM);
    server.holdSends = true;
    const adds = [room.add('carol'), bobRoom.add('dave')];
    await wait(() => server.held.length === 2, 'both Commits sent in epoch 1');
    const loser = server.held[1]!.socket.user;
    const lostWelcome = server.held[1]!.welcome?.message;
    assert.ok(lostWelcome !== undefined);
    server.holdSends = false;
    if (order === 'the conflict first') server.deferTo.add(loser);
    server.release();
    if (order === 'the conflict first') {
      await wait(() => server.conflicts.length === 1, 'the conflict');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(server.room(ROOM).messages.length, 2, 'the loser does not commit again before it has the winner');
      server.flushDeferred();
    }
    const [a, b] = await Promise.all(adds);
    assert.deepEqual([a!.conflicts, b!.conflicts].sort(), [0, 1], 'exactly one Commit was made again');
    assert.deepEqual([a!.epoch, b!.epoch].sort(), [2, 3]);
    assert.equal(server.conflicts.length, 1);
    assert.equal(server.conflicts[0]?.split(' ')[0], loser);
    // The lost Commit's Welcome went nowhere; each new member got exactly one.
    assert.deepEqual(server.welcomesPosted.filter((w) => !w.includes('bob/')).map((w) => w.split(' ')[2]).sort(), ['carol/carol-phone', 'dave/dave-phone']);
    for (const inbox of server.inboxes.values()) assert.ok(inbox.every((w) => w.welcome !== lostWelcome));
    const rooms = [room, bobRoom, await member_at(carol, 3), await member_at(dave, 3)];
    await member_at(alice, 3);
    await member_at(bob, 3);
    for (const [i, r] of rooms.entries()) await r.send(`from ${i}`);
    for (const m of [alice, bob, carol, dave]) {
      await wait(() => m.texts(ROOM).length === 4, `${m.user} reads all four`);
      assert.deepEqual(m.texts(ROOM), ['from 0', 'from 1', 'from 2', 'from 3']);
    }
    assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors, ...dave.errors], []);
  });
}

test('an offline member catches up in order: messages, a Commit and more messages while it was away', async () => {
  const server = new FakeE2eServer();
  const [alice, bob, carol, dave] = [await join(server, 'alice'), await join(server, 'bob'), await join(server, 'carol'), await join(server, 'dave')];
  const room = await group(alice, [bob, carol]);
  const bobRoom = await bob.room(ROOM);
  server.admit = () => 'hold';
  carol.client.dropConnection();
  await wait(() => carol.client.state === 'reconnecting', 'carol offline');
  await room.send('while away 1');
  await bobRoom.send('while away 2');
  await room.add('dave');
  await bobRoom.send('while away 3 (epoch 2)');
  await member_at(dave, 2);
  await room.send('while away 4');
  await wait(() => bob.texts(ROOM).length === 4, 'bob has the four');
  assert.equal(carol.texts(ROOM).length, 0);
  server.admit = () => 'accept';
  server.last.accept();
  const carolRoom = await member_at(carol, 2);
  await wait(() => carol.texts(ROOM).length === 4, `carol caught up (${carol.texts(ROOM).length})`);
  assert.deepEqual(carol.texts(ROOM), ['while away 1', 'while away 2', 'while away 3 (epoch 2)', 'while away 4']);
  assert.deepEqual(carol.seqs(ROOM), [2, 3, 5, 6]);
  assert.deepEqual(carolRoom.members().map((m) => m.user), ['alice', 'bob', 'carol', 'dave']);
  assert.ok(server.log.some((l) => l.startsWith('sync')), 'she synced');
  assert.deepEqual(carol.errors, []);
});

test('a restarted device (same storage) is the same device, keeps its groups and keeps decrypting and sending', async () => {
  const server = new FakeE2eServer();
  const storage = new MemoryDeviceStorage();
  const alice = await join(server, 'alice');
  let bob = await join(server, 'bob', { storage });
  const room = await group(alice, [bob]);
  await (await bob.room(ROOM)).send('before restart');
  await wait(() => alice.texts(ROOM).length === 1, 'alice reads bob');
  const { id, signaturePublicKey } = bob.device;
  bob.close();
  await room.send('while bob restarts');

  bob = await join(server, 'bob', { storage, keys: 0, device: undefined });
  assert.equal(bob.device.id, id);
  assert.deepEqual(bob.device.signaturePublicKey, signaturePublicKey);
  const bobRoom = await bob.room(ROOM);
  assert.equal(bobRoom.isMember, true);
  assert.equal(bobRoom.epoch, 1);
  await wait(() => bob.texts(ROOM).length === 1, 'bob reads what came while he was down');
  assert.deepEqual(bob.texts(ROOM), ['while bob restarts']);
  // His sender ratchet went on from where it was: alice decrypts what he sends now.
  await bobRoom.send('after restart 1');
  await bobRoom.send('after restart 2');
  await room.send('alice after restart');
  await wait(() => alice.texts(ROOM).length === 5 && bob.texts(ROOM).length === 4, 'both read everything');
  assert.deepEqual(alice.texts(ROOM), ['before restart', 'while bob restarts', 'after restart 1', 'after restart 2', 'alice after restart']);
  assert.deepEqual([...alice.errors, ...bob.errors], []);
  await assert.rejects(E2eDevice.open(storage, 'mallory'), (e: unknown) => e instanceof E2eError && e.code === 'device_mismatch');
});

test('a device restarted with a Commit in flight sends it again and applies it once it is stored', async () => {
  const server = new FakeE2eServer();
  const storage = new MemoryDeviceStorage();
  const alice = await join(server, 'alice');
  let bob = await join(server, 'bob', { storage });
  const carol = await join(server, 'carol');
  await group(alice, [bob]);
  const bobRoom = await bob.room(ROOM);
  server.holdSends = true;
  void bobRoom.add('carol').catch(() => undefined);
  await wait(() => server.held.length === 1, 'bob\'s Commit sent');
  bob.close();
  bob = await join(server, 'bob', { storage, keys: 0, device: undefined });
  const again = await bob.room(ROOM);
  assert.equal(again.committing, true);
  await wait(() => server.held.length === 2, 'the same Commit sent again');
  assert.equal(server.held[0]!.clientMsgId, server.held[1]!.clientMsgId);
  server.holdSends = false;
  server.release();
  await member_at(bob, 2);
  await member_at(alice, 2);
  await member_at(carol, 2);
  assert.equal(server.room(ROOM).messages.length, 2, 'stored once');
  await again.send('bob after his commit');
  await wait(() => carol.texts(ROOM).includes('bob after his commit') && alice.texts(ROOM).includes('bob after his commit'), 'everyone reads bob');
});

test('a device offline when it was added joins from its welcome inbox when it connects', async () => {
  const server = new FakeE2eServer();
  const alice = await join(server, 'alice');
  const storage = new MemoryDeviceStorage();
  let bob = await join(server, 'bob', { storage });
  bob.close();
  const room = await alice.room(ROOM);
  await room.create(['bob']);
  await room.send('sent before bob ever connected');
  assert.equal(server.welcomesPosted.length, 0, 'no connection of bob to post to');
  assert.equal(server.inboxes.get('bob/bob-phone')?.length, 1, 'kept in the inbox');
  bob = await join(server, 'bob', { storage, keys: 0, device: undefined });
  await wait(() => bob.texts(ROOM).length === 1, 'bob joined from the inbox and read the message');
  assert.deepEqual(bob.texts(ROOM), ['sent before bob ever connected']);
  await wait(() => server.inboxes.get('bob/bob-phone')?.length === 0, 'acknowledged');
  assert.equal((await bob.room(ROOM)).epoch, 1);
  assert.equal(await bob.device.heldKeyPackages(), 2, 'the one-time KeyPackage used is forgotten (1 of 2 left, + the last-resort one)');
});

test('KeyPackages: published 20 per request, counted, replenished below the threshold, and claimed packages are checked', async () => {
  const server = new FakeE2eServer();
  const alice = await join(server, 'alice', { keys: 0 });
  const status = await alice.e2e.keys.publish(45, { lastResort: true });
  assert.deepEqual(status, { device: 'alice-phone', oneTime: 45, lastResort: true });
  const publishes = server.sockets.flatMap((s) => s.requests('keys.publish'));
  assert.deepEqual(publishes.map((p) => (p.keyPackages as string[]).length), [20, 20, 5]);
  assert.equal(publishes.filter((p) => p.lastResort !== undefined).length, 1);
  assert.equal(await alice.device.heldKeyPackages(), 46);
  assert.deepEqual(await alice.e2e.keys.replenish({ threshold: 10, target: 60 }), { device: 'alice-phone', oneTime: 45, lastResort: true, published: 0 });
  server.directory.get('alice/alice-phone')!.oneTime.splice(0, 40);
  assert.deepEqual(await alice.e2e.keys.replenish({ threshold: 10, target: 60 }), { device: 'alice-phone', oneTime: 60, lastResort: true, published: 55 });

  // A package whose credential names another device is refused, and nothing is added.
  const bob = await join(server, 'bob');
  const bobs = server.directory.get('bob/bob-phone')!;
  server.directory.set('eve/laptop', { oneTime: [bobs.oneTime.shift()!], lastResort: undefined });
  const room = await alice.room(ROOM);
  await room.create();
  await assert.rejects(room.add('eve'), (e: unknown) => e instanceof E2eError && e.code === 'no_key_packages');
  assert.ok(alice.errors.some((e) => e instanceof E2eError && e.code === 'invalid_key_package'));
  await assert.rejects(room.add('nobody'), (e: unknown) => e instanceof E2eError && e.code === 'no_key_packages');
  assert.equal(room.epoch, 1);
  // After the one-time packages, the last-resort one; bob then refreshes his leaf (RFC 9420 §16.8).
  bobs.oneTime.splice(0);
  const added = await room.add('bob');
  assert.equal(added.epoch, 2);
  await member_at(bob, 3);
  assert.equal(bob.changes.at(-1)?.from, 'bob', 'bob\'s own update');
});

test('the client keeps KeyPackages published by itself after connecting', async () => {
  const server = new FakeE2eServer();
  const m = await member(URL, 'zoe', { device: 'zoe-tab', client: { WebSocket: server.WebSocket }, e2e: { keyPackages: { threshold: 3, target: 5 } } });
  started.push(m);
  await wait(() => server.directory.get('zoe/zoe-tab')?.oneTime.length === 5 && server.directory.get('zoe/zoe-tab')?.lastResort !== undefined, 'published on connect');
});

test('creating a group in a room that has one already fails with group_exists', async () => {
  const server = new FakeE2eServer();
  const [alice, bob] = [await join(server, 'alice'), await join(server, 'bob')];
  const a = await alice.room(ROOM);
  const b = await bob.room(ROOM);
  server.holdSends = true;
  const made = [a.create(), b.create()];
  await wait(() => server.held.length === 2, 'both groups sent');
  const aliceFirst = server.held[0]!.socket.user === 'alice';
  server.holdSends = false;
  server.release();
  const settled = await Promise.allSettled(made);
  const [won, lost] = aliceFirst ? settled : [settled[1], settled[0]];
  assert.equal(won?.status, 'fulfilled');
  assert.ok(lost?.status === 'rejected' && lost.reason instanceof E2eError && lost.reason.code === 'group_exists', String(lost?.status === 'rejected' ? lost.reason : 'fulfilled'));
  assert.deepEqual([a.isMember, b.isMember], [aliceFirst, !aliceFirst]);
  assert.equal((aliceFirst ? b : a).epoch, undefined, 'the loser has no group');

  // A device that opens the room later and tries to make a group there learns it at once.
  const carol = await join(server, 'carol');
  const c = await carol.room(ROOM);
  const late = await Promise.race([c.create().then(() => 'created', (e: unknown) => (e instanceof E2eError ? e.code : String(e))), new Promise((r) => setTimeout(() => r('no answer'), 3_000))]);
  assert.equal(late, 'group_exists');
  assert.equal(c.isMember, false);
  await c.idle();
  assert.deepEqual(carol.errors, [], 'nothing the room held before was processed');
});

test('a device that had the room open before its Welcome was used reads what came in between, from history', async () => {
  const server = new FakeE2eServer();
  const alice = await join(server, 'alice');
  const bob = await join(server, 'bob', { e2e: { acceptWelcomes: false, keyPackages: false } });
  const early = await bob.room(ROOM);
  assert.equal(early.isMember, false);
  const room = await alice.room(ROOM);
  await room.create(['bob']);
  await room.send('before bob used his welcome 1');
  await room.send('before bob used his welcome 2');
  await wait(() => bob.raw.length === 3, 'bob\'s client received the three ciphertexts');
  assert.deepEqual(bob.texts(ROOM), []);
  const [pending] = await bob.e2e.welcomes();
  assert.ok(pending !== undefined);
  assert.equal(pending.seq, 1);
  const joined = await bob.e2e.accept(pending);
  assert.equal(joined, early, 'the room object the app already had');
  await wait(() => bob.texts(ROOM).length === 2, 'bob read the two from history');
  assert.deepEqual(bob.texts(ROOM), ['before bob used his welcome 1', 'before bob used his welcome 2']);
  assert.ok(server.log.some((l) => l.startsWith('history')));
  await room.send('after');
  await wait(() => bob.texts(ROOM).length === 3, 'and the next one live');
  assert.deepEqual(bob.seqs(ROOM), [2, 3, 4]);
});

test('a device that stops right after sending never reuses a message key: what it sends after the restart decrypts too', async () => {
  const server = new FakeE2eServer();
  const storage = new MemoryDeviceStorage();
  const alice = await join(server, 'alice');
  let bob = await join(server, 'bob', { storage });
  await group(alice, [bob]);
  server.holdSends = true;
  void (await bob.room(ROOM)).send('sent just before the crash');
  await wait(() => server.held.length === 1, 'the send left');
  bob.close();
  server.holdSends = false;
  server.release();
  bob = await join(server, 'bob', { storage, keys: 0, device: undefined });
  const again = await bob.room(ROOM);
  await wait(() => bob.texts(ROOM).length === 1, 'bob sees his own message stored');
  assert.deepEqual(bob.messages.map((m) => [m.text, m.own]), [['sent just before the crash', true]]);
  await again.send('sent after the restart');
  await wait(() => alice.texts(ROOM).length === 2 || alice.errors.length > 0, 'alice reads both');
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(alice.texts(ROOM), ['sent just before the crash', 'sent after the restart']);
});
