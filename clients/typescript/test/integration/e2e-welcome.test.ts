// Against a real devstack: Welcomes delivered by the server (the contract of docs/e2e.md,
// "Welcome"): held with their Commit, posted to the new member's connections as `welcome`,
// kept in the device's inbox (`welcomes`) until `welcomes.ack`, and dropped with a losing Commit.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type IncomingWelcome, MemoryDeviceStorage } from '../../dist/index.js';
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

/** A device that joins from the Welcomes the server gives it (the SDK's default). */
async function device(user: string, options: MemberOptions = {}): Promise<Member & { welcomes: IncomingWelcome[] }> {
  const m = await member(devstack.wsUrl, user, { device: `${user}-phone`, e2e: { keyPackages: false }, ...options });
  members.push(m);
  const welcomes: IncomingWelcome[] = [];
  m.e2e.on('welcome', (w) => welcomes.push(w));
  await m.client.connected();
  return { ...m, welcomes };
}

test('the server keeps a welcome inbox per device (welcomes answers; an unknown action means the server lacks Welcome support)', async () => {
  const probe = await device('p-bob', { e2e: { acceptWelcomes: false, keyPackages: false } });
  assert.deepEqual(await probe.e2e.welcomes(), []);
});

test('a member added while online gets a welcome frame, joins, reads and writes, and its inbox is acknowledged', async () => {
  const alice = await device('w-alice');
  const bob = await device('w-bob');
  await bob.e2e.keys.publish(2, { lastResort: true });
  const room = 'e2e:welcome-live';
  const a = await alice.room(room);
  const made = await a.create(['w-bob']);
  await eventually(() => bob.welcomes.length === 1, () => `bob got ${bob.welcomes.length} welcome frames; errors: ${bob.errors.join('; ')}`);
  assert.deepEqual(bob.welcomes.map((w) => [w.room, w.seq, w.from, w.device, w.welcome]), [[room, made.seq, 'w-alice', 'w-bob-phone', made.welcome]]);
  const b = await bob.room(room);
  await eventually(() => b.isMember, () => `bob joined; errors: ${bob.errors.join('; ')}`);
  await a.send('welcome, bob');
  await b.send('thanks, alice');
  for (const m of [alice, bob]) {
    await eventually(() => m.texts(room).length === 2, () => `${m.user}: ${m.texts(room).join(' | ')}`);
    assert.deepEqual(m.texts(room), ['welcome, bob', 'thanks, alice']);
  }
  await eventually(() => bob.errors.length === 0, () => bob.errors.join('; '));
  const left = await member(devstack.wsUrl, 'w-bob', { storage: bob.storage, e2e: { acceptWelcomes: false, keyPackages: false } });
  members.push(left);
  assert.deepEqual(await left.e2e.welcomes(), [], 'welcomes.ack emptied the inbox');
});

test('a member added while offline joins from its welcome inbox when it connects, and reads what was sent meanwhile', async () => {
  const alice = await device('o-alice');
  const storage = new MemoryDeviceStorage();
  const first = await device('o-bob', { storage });
  await first.e2e.keys.publish(1);
  first.close();
  const room = 'e2e:welcome-inbox';
  const a = await alice.room(room);
  const made = await a.create(['o-bob']);
  await a.send('sent while bob was offline');
  const bob = await device('o-bob', { storage });
  await eventually(() => bob.texts(room).length === 1, () => `bob: ${bob.texts(room).join(' | ')}; errors: ${bob.errors.join('; ')}`);
  assert.deepEqual(bob.texts(room), ['sent while bob was offline']);
  assert.equal((await bob.room(room)).epoch, made.epoch);
  const check = await member(devstack.wsUrl, 'o-bob', { storage, e2e: { acceptWelcomes: false, keyPackages: false } });
  members.push(check);
  await eventually(() => check.client.state === 'connected', () => check.client.state);
  assert.deepEqual(await check.e2e.welcomes(), []);
});

test('the Welcome of a Commit that lost its epoch is never delivered; the retried Commit\'s is', async () => {
  const pause = new Pause();
  const alice = await device('l-alice');
  const bob = await device('l-bob', { client: { WebSocket: pause.WebSocket } });
  const carol = await device('l-carol');
  const dave = await device('l-dave');
  await bob.e2e.keys.publish(1);
  await carol.e2e.keys.publish(1);
  await dave.e2e.keys.publish(2);
  const room = 'e2e:welcome-conflict';
  const a = await alice.room(room);
  await a.create(['l-bob']);
  const b = await bob.room(room);
  await eventually(() => b.isMember, () => `bob joined; ${bob.errors.join('; ')}`);
  // Bob sees nothing of the room meanwhile, but gets the reply to his claim.
  pause.passes = (text) => text.includes('"type":"keyPackages"');
  pause.paused = true;
  await a.add('l-carol');
  const bobs = b.add('l-dave');
  await eventually(() => pause.held.some((f) => f.includes('"code":"conflict"')), () => 'bob\'s conflict');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(dave.welcomes.length, 0, 'the lost Commit\'s Welcome was dropped');
  pause.resume();
  const result = await bobs;
  assert.equal(result.conflicts, 1);
  await eventually(() => dave.welcomes.length === 1, () => `dave has ${dave.welcomes.length} welcomes`);
  assert.equal(dave.welcomes[0]?.seq, result.seq);
  assert.equal(dave.welcomes[0]?.welcome, result.welcome);
  const d = await dave.room(room);
  await eventually(() => d.isMember && d.epoch === 3, () => `dave at ${d.epoch}; ${dave.errors.join('; ')}`);
  await d.send('dave made it');
  for (const m of [alice, bob, carol]) await eventually(() => m.texts(room).includes('dave made it'), () => `${m.user}: ${m.texts(room).join(' | ')}`);
  assert.equal(carol.welcomes.length, 1);
});
