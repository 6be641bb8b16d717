// Against a real devstack: the KeyPackage directory, MLS messages in an `e2e:` room and one
// Commit per epoch with `conflict`, through the SDK's e2e layer. The Welcome goes to the new
// member out of band here (E2eClient.accept); e2e-welcome.test.ts covers the server delivering it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type CommitResult, E2eError, type E2eRoom, StarlingError } from '../../dist/index.js';
import { type Devstack, startDevstack } from '../support/devstack.js';
import { type Member, type MemberOptions, member } from '../support/e2e.js';
import { eventually } from '../support/live.js';
import { Pause } from '../support/pausable.js';

let devstack: Devstack;
const members: Member[] = [];
before(async () => {
  devstack = await startDevstack(['--rate-limit', '100000']);
});
after(async () => {
  for (const m of members) m.close();
  await devstack.stop();
});

async function device(user: string, options: MemberOptions = {}): Promise<Member> {
  const m = await member(devstack.wsUrl, user, { device: `${user}-laptop`, e2e: { acceptWelcomes: false, keyPackages: false }, ...options });
  members.push(m);
  await m.client.connected();
  return m;
}

/** `joiner` joins `room` from the Welcome of `made`, as a server-delivered one would be used. */
async function welcome(joiner: Member, room: string, made: CommitResult, from: string): Promise<E2eRoom> {
  assert.ok(made.welcome !== undefined && made.seq !== undefined);
  return joiner.e2e.accept({ room, seq: made.seq, from, device: joiner.device.id, welcome: made.welcome });
}

test('keys.publish in requests of 20, keys.count, and keys.claim hand out checked packages, one-time ones once', async () => {
  const alice = await device('kp-alice');
  const bob = await device('kp-bob');
  const published = await bob.e2e.keys.publish(25, { lastResort: true });
  assert.deepEqual(published, { device: 'kp-bob-laptop', oneTime: 25, lastResort: true });
  assert.deepEqual(await bob.e2e.keys.count(), published);
  const first = await alice.e2e.keys.claim('kp-bob');
  assert.deepEqual(first.rejected, []);
  assert.deepEqual(first.valid.map((k) => [k.user, k.device, k.lastResort]), [['kp-bob', 'kp-bob-laptop', false]]);
  const second = await alice.e2e.keys.claim('kp-bob');
  assert.ok(first.valid[0]!.keyPackage.initKey.some((b, i) => b !== second.valid[0]!.keyPackage.initKey[i]), 'a one-time package is handed out once');
  assert.equal((await bob.e2e.keys.count()).oneTime, 23);
  const replenished = await bob.e2e.keys.replenish({ threshold: 30, target: 40 });
  assert.deepEqual(replenished, { device: 'kp-bob-laptop', oneTime: 40, lastResort: true, published: 17 });
  assert.equal(await bob.device.heldKeyPackages(), 25 + 1 + 17, 'the private keys of every package published are kept');
  await assert.rejects(bob.e2e.keys.publish(61), (e: unknown) => e instanceof StarlingError && e.code === 'forbidden');
  assert.deepEqual((await alice.e2e.keys.claim('kp-nobody')).valid, []);
});

test('an e2e room: a group made, a member added, messages both ways decrypted, and nothing but MLS accepted', async () => {
  const alice = await device('r-alice');
  const bob = await device('r-bob');
  await bob.e2e.keys.publish(2, { lastResort: true });
  const room = 'e2e:sdk-room';
  const a = await alice.room(room);
  const made = await a.create(['r-bob']);
  assert.deepEqual([made.seq, made.epoch, made.added.map((m) => m.identity)], [1, 1, ['r-bob/r-bob-laptop']]);
  const b = await welcome(bob, room, made, 'r-alice');
  assert.deepEqual([b.isMember, b.epoch], [true, 1]);
  await a.send('hi bob, only you can read this');
  await b.send('hi alice');
  await a.send('🔒 unicode too');
  for (const m of [alice, bob]) {
    await eventually(() => m.texts(room).length === 3, () => `${m.user} has ${m.texts(room).length}: ${m.errors.join('; ')}`);
    assert.deepEqual(m.texts(room), ['hi bob, only you can read this', 'hi alice', '🔒 unicode too']);
    assert.deepEqual(m.seqs(room), [2, 3, 4]);
  }
  assert.equal(await a.safetyNumber('r-bob', 'r-bob-laptop'), await bob.device.safetyNumber());
  assert.equal(await b.safetyNumber('r-alice', 'r-alice-laptop'), await alice.device.safetyNumber());
  // The server stored ciphertext only, and refuses a plaintext body in an e2e: room.
  const page = await alice.client.history(room);
  assert.equal(page.messages.length, 4);
  for (const m of page.messages) assert.ok(!Buffer.from(m.body, 'base64').includes(Buffer.from('only you')));
  await assert.rejects(alice.client.send(room, 'plain text'), (e: unknown) => e instanceof StarlingError && e.code === 'bad_request');
  assert.deepEqual([...alice.errors, ...bob.errors], []);
});

test('two members commit in the same epoch: the server stores one, the other gets conflict, processes the winner and commits again', async () => {
  const pause = new Pause();
  const alice = await device('c-alice');
  const bob = await device('c-bob', { client: { WebSocket: pause.WebSocket } });
  const carol = await device('c-carol');
  await bob.e2e.keys.publish(1);
  await carol.e2e.keys.publish(2);
  const room = 'e2e:sdk-conflict';
  const a = await alice.room(room);
  const b = await welcome(bob, room, await a.create(['c-bob']), 'c-alice');
  const conflicts: string[] = [];
  b.on('conflict', (c) => conflicts.push(`${c.clientMsgId} ${c.epoch}`));

  // Bob does not see alice's Commit before making his own in the same epoch.
  pause.paused = true;
  const alices = await a.add('c-carol');
  assert.equal(alices.epoch, 2);
  const sentBefore = pause.sent.length;
  const bobs = b.update();
  await eventually(() => pause.held.some((f) => f.includes('"code":"conflict"')), () => `bob's held frames: ${pause.held.join('\n')}`);
  const commit = pause.sent.slice(sentBefore).find((f) => f.action === 'send');
  const conflict = JSON.parse(pause.held.find((f) => f.includes('"code":"conflict"'))!) as Record<string, unknown>;
  assert.deepEqual([conflict.action, conflict.clientMsgId, conflict.epoch], ['send', commit?.clientMsgId, 2]);
  assert.equal(b.epoch, 1, 'bob has not applied his own Commit');
  pause.resume();
  const result = await bobs;
  assert.deepEqual([result.seq, result.epoch, result.conflicts], [3, 3, 1]);
  assert.equal(conflicts.length, 1);
  const c = await welcome(carol, room, alices, 'c-alice');
  await eventually(() => a.epoch === 3 && c.epoch === 3, () => `epochs ${a.epoch} ${b.epoch} ${c.epoch}`);
  await a.send('from alice in epoch 3');
  await b.send('from bob in epoch 3');
  await c.send('from carol in epoch 3');
  for (const m of [alice, bob, carol]) {
    await eventually(() => m.texts(room).length === 3, () => `${m.user}: ${m.texts(room).join(' | ')} ${m.errors.join('; ')}`);
    assert.deepEqual(m.texts(room), ['from alice in epoch 3', 'from bob in epoch 3', 'from carol in epoch 3']);
  }
  const stored = await alice.client.history(room);
  assert.deepEqual(stored.messages.map((m) => m.from), ['c-alice', 'c-alice', 'c-bob', 'c-alice', 'c-bob', 'c-carol'], 'the lost Commit was not stored');
  assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], []);
});

test('a restarted device with the same storage is the same member and reads on', async () => {
  const alice = await device('s-alice');
  const bob = await device('s-bob');
  await bob.e2e.keys.publish(1);
  const room = 'e2e:sdk-restart';
  const a = await alice.room(room);
  await welcome(bob, room, await a.create(['s-bob']), 's-alice');
  await a.send('one');
  await eventually(() => bob.texts(room).length === 1, () => 'bob reads one');
  bob.close();
  await a.send('two, while bob is away');
  const again = await device('s-bob', { storage: bob.storage });
  assert.equal(again.device.id, bob.device.id);
  const b = await again.room(room);
  await eventually(() => again.texts(room).length === 1, () => `bob after restart: ${again.texts(room).join(' | ')} ${again.errors.join('; ')}`);
  assert.deepEqual(again.texts(room), ['two, while bob is away']);
  await b.send('three, from the restarted bob');
  await eventually(() => alice.texts(room).includes('three, from the restarted bob'), () => 'alice reads bob');
  await assert.rejects(a.add('s-nobody'), (e: unknown) => e instanceof E2eError && e.code === 'no_key_packages');
});
