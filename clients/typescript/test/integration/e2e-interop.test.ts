// A Rust member and a TypeScript member in one encrypted room, through a devstack: the
// `starling chat --e2e` CLI (mls-rs) makes the group and adds a device of the SDK (ts-mls),
// both on ciphersuite 1 (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519). Each decrypts the
// other, the SDK's member adds a second TypeScript device which the CLI then reads, and both
// sides show the same safety numbers. Needs the CLI binary: STARLING_CLI_BIN, default
// target/debug/starling (built by `cargo build`, which CI's test step runs).
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { type Devstack, startDevstack } from '../support/devstack.js';
import { type Member, member } from '../support/e2e.js';
import { mintToken } from '../support/jwt.js';
import { eventually } from '../support/live.js';

const CLI = process.env.STARLING_CLI_BIN ?? resolve(import.meta.dirname, '../../../../target/debug/starling');

let devstack: Devstack;
const members: Member[] = [];
const children: ChildProcessWithoutNullStreams[] = [];
const dirs: string[] = [];
before(async () => {
  assert.ok(existsSync(CLI), `no CLI binary at ${CLI}: run cargo build -p starling-cli first`);
  devstack = await startDevstack(['--rate-limit', '100000']);
});
after(async () => {
  for (const m of members) m.close();
  for (const c of children) c.kill();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await devstack.stop();
});

/** The CLI's chat as `user`, its output collected line by line. */
function cli(user: string, room: string): { lines: string[]; type: (line: string) => void } {
  const state = mkdtempSync(join(tmpdir(), 'starling-interop-'));
  dirs.push(state);
  const args = ['chat', '--e2e', '--device', 'laptop', '--state', state, '--url', devstack.wsUrl, '--token', mintToken(user), room];
  const child = spawn(CLI, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  let partial = '';
  const collect = (chunk: Buffer): void => {
    partial += chunk.toString('utf8');
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return { lines, type: (line) => child.stdin.write(`${line}\n`) };
}

async function device(user: string, name: string): Promise<Member> {
  const m = await member(devstack.wsUrl, user, { device: name, e2e: { keyPackages: false } });
  members.push(m);
  await m.client.connected();
  return m;
}

test('a CLI (mls-rs) member and SDK (ts-mls) members share a room: each reads the other and safety numbers agree', async () => {
  const room = 'e2e:interop';
  const bob = await device('i-bob', 'phone');
  await bob.e2e.keys.publish(2, { lastResort: true });
  const alice = cli('i-alice', room);
  const seen = (pattern: RegExp): boolean => alice.lines.some((l) => pattern.test(l));
  const log = (): string => alice.lines.join('\n');
  await eventually(() => seen(/created the group; epoch 1/), () => `the CLI made no group:\n${log()}`);

  alice.type('/add i-bob');
  await eventually(() => seen(/added i-bob\/phone; epoch 2/), () => `the CLI did not add bob:\n${log()}`);
  const b = await bob.room(room);
  await eventually(() => b.isMember && b.epoch === 2, () => `bob at ${b.epoch}; ${bob.errors.join('; ')}`);

  alice.type('hello from rust');
  await eventually(() => bob.texts(room).includes('hello from rust'), () => `bob read ${bob.texts(room).join(' | ')}; ${bob.errors.join('; ')}`);
  await b.send('hello from typescript');
  await eventually(() => seen(/ i-bob\/phone: hello from typescript$/), () => `the CLI did not read bob:\n${log()}`);

  // The SDK commits too: bob adds carol's device, and the CLI follows the Commit and reads her.
  const carol = await device('i-carol', 'tablet');
  await carol.e2e.keys.publish(1, { lastResort: true });
  await b.add('i-carol');
  await eventually(() => seen(/i-bob\/phone added i-carol\/tablet; epoch 3/), () => `the CLI missed bob's Commit:\n${log()}`);
  const c = await carol.room(room);
  await eventually(() => c.isMember && c.epoch === 3, () => `carol at ${c.epoch}; ${carol.errors.join('; ')}`);
  await c.send('hello from carol');
  await eventually(() => seen(/ i-carol\/tablet: hello from carol$/), () => `the CLI did not read carol:\n${log()}`);
  alice.type('welcome carol');
  await eventually(() => carol.texts(room).includes('welcome carol'), () => `carol read ${carol.texts(room).join(' | ')}`);

  // The CLI's safety numbers for bob and carol are the ones their own devices show.
  alice.type('/members');
  await eventually(() => seen(/^ {2}i-carol\/tablet: /), () => `no /members:\n${log()}`);
  for (const m of [bob, carol]) {
    const mine = await m.device.safetyNumber();
    assert.ok(seen(new RegExp(`^  ${m.device.identity}: ${mine}$`)), `${m.device.identity} ${mine} not in:\n${log()}`);
  }
  const aliceLine = alice.lines.find((l) => l.startsWith('  i-alice/laptop (you): '));
  assert.ok(aliceLine !== undefined, log());
  assert.equal(await b.safetyNumber('i-alice', 'laptop'), aliceLine.slice('  i-alice/laptop (you): '.length));
});
