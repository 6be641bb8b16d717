#!/usr/bin/env node
// Measures ts-mls (ciphersuite 1) as the SDK uses it, for groups of 2, 50 and 500 members:
// the sender's cost per message (encrypt, encode, base64: what E2eRoom.send does before the
// state is saved), the receiver's (base64, decode, decrypt), the size and cost of saving the
// group state (E2eRoom saves it before each send), and the Commits that add one member to each
// group (with the Welcome carrying the ratchet tree) and remove one. Each group is built by one
// Commit adding everyone ("bulk add"), whose time and Welcome size are shown too. Not a test.
//
//   node scripts/bench-e2e.mjs            # sizes 2 50 500
//   node scripts/bench-e2e.mjs 2 50       # other sizes
import {
  acceptAll,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  processMessage,
} from 'ts-mls';

const sizes = process.argv.slice(2).map(Number).filter((n) => n >= 2);
const SIZES = sizes.length > 0 ? sizes : [2, 50, 500];
const MESSAGES = 100;
const cs = await getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'));
const te = new TextEncoder();
const b64 = (bytes) => Buffer.from(bytes).toString('base64');
const unb64 = (text) => new Uint8Array(Buffer.from(text, 'base64'));
const kp = (id) => generateKeyPackage({ credentialType: 'basic', identity: te.encode(id) }, defaultCapabilities(), defaultLifetime, [], cs);
const ms = (t0) => performance.now() - t0;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x, d = 2) => x.toFixed(d);
const welcomeBytes = (welcome) => encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome });

/** A group of `n`: alice made it and added the others in one Commit; bob (the 2nd) joined from its Welcome. */
async function makeGroup(n) {
  const alice = await kp('alice/bench');
  let state = await createGroup(te.encode(`bench-${n}`), alice.publicPackage, alice.privatePackage, [], cs);
  const bob = await kp('bob/bench');
  const others = [bob];
  for (let i = 2; i < n; i++) others.push(await kp(`user${i}/bench`));
  const t0 = performance.now();
  const made = await createCommit({ state, cipherSuite: cs }, { extraProposals: others.map((k) => ({ proposalType: 'add', add: { keyPackage: k.publicPackage } })), ratchetTreeExtension: true });
  const buildMs = ms(t0);
  state = made.newState;
  const t1 = performance.now();
  const bobState = await joinGroup(made.welcome, bob.publicPackage, bob.privatePackage, emptyPskIndex, cs);
  return { state, bobState, buildMs, joinMs: ms(t1), welcome: welcomeBytes(made.welcome).length };
}

const rows = [];
const groups = [];
await makeGroup(2); // warm-up: the first group pays for JIT and WebCrypto start-up
for (const n of SIZES) {
  const g = await makeGroup(n);
  let { state, bobState } = g;
  const enc = [];
  const dec = [];
  let size = 0;
  for (let i = 0; i < MESSAGES; i++) {
    const text = te.encode(`message ${i}: ${'x'.repeat(80)}`);
    let t0 = performance.now();
    const out = await createApplicationMessage(state, text, cs);
    state = out.newState;
    const body = b64(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: out.privateMessage }));
    enc.push(ms(t0));
    size = body.length;
    t0 = performance.now();
    const message = decodeMlsMessage(unb64(body), 0)[0];
    const got = await processMessage(message, bobState, emptyPskIndex, acceptAll, cs);
    bobState = got.newState;
    dec.push(ms(t0));
    if (got.kind !== 'applicationMessage') throw new Error('not decrypted');
  }
  const t0 = performance.now();
  const saved = b64(encodeGroupState(state));
  const saveMs = ms(t0);
  rows.push({ n, enc: median(enc), dec: median(dec), size, state: saved.length, saveMs, buildMs: g.buildMs, joinMs: g.joinMs, welcome: g.welcome });
  groups.push({ n, state });
}

console.log(`ts-mls 1.6.4, ciphersuite 1, node ${process.version}; ${MESSAGES} messages of 92 bytes per size, medians`);
console.log('members | encrypt+encode (ms) | decode+decrypt (ms) | body (b64 chars) | saved state (b64 chars) | save (ms) | bulk add (ms) | join (ms) | bulk Welcome (bytes)');
for (const r of rows) {
  console.log(`${String(r.n).padStart(7)} | ${fmt(r.enc).padStart(19)} | ${fmt(r.dec).padStart(19)} | ${String(r.size).padStart(16)} | ${String(r.state).padStart(23)} | ${fmt(r.saveMs).padStart(9)} | ${fmt(r.buildMs, 0).padStart(13)} | ${fmt(r.joinMs, 1).padStart(9)} | ${String(r.welcome).padStart(23)}`);
}

for (const { n, state } of groups) {
  // Adding one member: a Commit with one Add and no path, and a Welcome with the ratchet tree.
  for (let i = 0; i < (n === Math.max(...SIZES) ? 3 : 1); i++) {
    const newcomer = await kp(`new${i}/bench`);
    let t0 = performance.now();
    const add = await createCommit({ state, cipherSuite: cs }, { extraProposals: [{ proposalType: 'add', add: { keyPackage: newcomer.publicPackage } }], ratchetTreeExtension: true });
    const commitMs = ms(t0);
    const commit = encodeMlsMessage(add.commit);
    const welcome = welcomeBytes(add.welcome);
    t0 = performance.now();
    await joinGroup(add.welcome, newcomer.publicPackage, newcomer.privatePackage, emptyPskIndex, cs);
    const joinMs = ms(t0);
    const frame = JSON.stringify({ action: 'send', room: 'e2e:bench', body: b64(commit), clientMsgId: '00000000-0000-4000-8000-000000000000', welcome: { message: b64(welcome), to: [{ user: `new${i}`, device: 'bench' }] } }).length;
    console.log(`add 1 to ${n}: createCommit ${fmt(commitMs, 1)} ms, Commit ${commit.length} B (${b64(commit).length} b64), Welcome with tree ${welcome.length} B (${b64(welcome).length} b64), send frame ${frame} B, joinGroup ${fmt(joinMs, 1)} ms`);
  }
  // Removing one member needs a path; its size depends on the tree (built here by one bulk add, so no parent node is set yet).
  const t0 = performance.now();
  const rm = await createCommit({ state, cipherSuite: cs }, { extraProposals: [{ proposalType: 'remove', remove: { removed: n - 1 } }] });
  const commit = encodeMlsMessage(rm.commit);
  console.log(`remove 1 from ${n}: createCommit ${fmt(ms(t0), 1)} ms, Commit ${commit.length} B (${b64(commit).length} b64; a send body takes 16384)`);
}
