// Encrypted rooms in the page, in headless Chromium against a real devstack: alice makes an
// `e2e:` room and adds bob; both pages show the lock, decrypt each other's messages and show the
// same safety numbers for each device; bob's reload is the same device and reads on; and the
// server holds only MLS ciphertext. Screenshots go to target/browser/.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STEP_MS, assertNoPageErrors, openPage, say, screenshot, signIn, twoPages } from './harness.mjs';

const ROOM = 'e2e:secret-plans';
const LOCK = '.lock[aria-label="end-to-end encrypted"]';
const SAFETY_NUMBER = /^\d{5}( \d{5}){11}$/;
const SECRETS = ['The launch is on Thursday at dawn', 'Bring the blue folder, not the red one', 'Back after the reload: still reading you'];

let devstack;
let browser;
let alice;
let bob;

twoPages('devstack-e2e', (made) => ({ devstack, browser, alice, bob } = made));

/** Waits until the page's device has one-time KeyPackages on the server (it publishes them once connected). */
async function keyPackagesPublished(page) {
  const deadline = Date.now() + STEP_MS * 2;
  for (;;) {
    const left = await page.evaluate(async () => (await (await window.starling.e2e.ready).keys.count()).oneTime);
    if (left > 0) return left;
    if (Date.now() > deadline) throw new Error('the page published no KeyPackages');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The safety numbers the page shows for the current room: `{user}/{device}` → number, and its own device's. */
async function safetyNumbers(page) {
  const entries = await page.$$eval('#safety-list li.safety-entry', (els) =>
    els.map((e) => ({ user: e.dataset.safetyUser, device: e.dataset.safetyDevice, number: e.dataset.number, own: e.dataset.own !== undefined, shown: e.querySelector('.number')?.textContent })));
  for (const e of entries) {
    assert.match(e.number, SAFETY_NUMBER, `${e.user}/${e.device}'s safety number is 12 groups of 5 digits`);
    assert.equal(e.shown, e.number, 'the number on screen is the one in data-number');
  }
  const own = entries.filter((e) => e.own);
  assert.equal(own.length, 1, 'exactly one entry is this device');
  return { own: own[0], byUser: new Map(entries.map((e) => [e.user, e])) };
}

/** Both locks: the room list's and the header's, with their accessible label and a title. */
async function assertLocks(page) {
  await page.waitForSelector(`#room-list [data-room="${ROOM}"] ${LOCK}`);
  await page.waitForSelector(`#room-title ${LOCK}`);
  assert.match(await page.getAttribute(`#room-title ${LOCK}`, 'title'), /end-to-end encrypted/i);
  assert.equal(await page.$(`#room-list [data-room="${ROOM}"] .hash`), null, 'no # for an encrypted room');
}

/** What the server stored for the room, read with `history` over a plain WebSocket (no SDK). */
async function storedBodies() {
  const { page } = await openPage(browser, devstack.url);
  try {
    return await page.evaluate(async (room) => {
      const answer = await fetch('/_devstack/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice' }) });
      const { token, url } = await answer.json();
      const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`);
      return await new Promise((resolve, reject) => {
        ws.onopen = () => ws.send(JSON.stringify({ action: 'history', room, limit: 100 }));
        ws.onerror = () => reject(new Error('the WebSocket failed'));
        ws.onmessage = (event) => {
          const frame = JSON.parse(event.data);
          if (frame.type === 'error') reject(new Error(`history: ${event.data}`));
          if (frame.type !== 'history') return;
          ws.close();
          resolve(frame.messages.map((m) => ({ seq: m.seq, from: m.from, body: m.body })));
        };
      });
    }, ROOM);
  } finally {
    await page.context().close();
  }
}

test('alice makes an encrypted room, adds bob, and they read each other with matching safety numbers', async () => {
  await signIn(alice.page, 'alice');
  await signIn(bob.page, 'bob');
  await keyPackagesPublished(bob.page);

  // The room is empty, so alice's page makes its group with her device as the first member.
  await alice.page.fill('#join-room', ROOM);
  await alice.page.press('#join-room', 'Enter');
  await alice.page.waitForSelector('#room-sub:has-text("1 device · epoch 1")');
  await assertLocks(alice.page);

  await alice.page.fill('#add-member', 'bob');
  await alice.page.press('#add-member', 'Enter');
  await alice.page.waitForSelector('#room-sub:has-text("2 devices · epoch 2")');
  await alice.page.waitForSelector('#messages li.note[data-note=members]:has-text("alice added bob")');

  // Bob's page joined from the Welcome and lists the room, with the lock.
  await bob.page.waitForSelector(`#room-list [data-room="${ROOM}"] ${LOCK}`);
  await bob.page.click(`#room-list [data-room="${ROOM}"]`);
  await assertLocks(bob.page);
  await bob.page.waitForSelector('#room-sub:has-text("2 devices · epoch 2")');

  await say(alice.page, SECRETS[0]);
  await bob.page.waitForSelector(`#messages li.msg[data-from=alice]:has-text("${SECRETS[0]}")`);
  await say(bob.page, SECRETS[1]);
  await alice.page.waitForSelector(`#messages li.msg[data-from=bob]:has-text("${SECRETS[1]}")`);
  await bob.page.waitForSelector(`#messages li.msg[data-from=bob]:has-text("${SECRETS[1]}")`);
  await alice.page.waitForSelector('#pending li', { state: 'detached' });
  assert.equal(await alice.page.$('#messages [data-note=undecryptable]'), null, 'nothing unreadable');
  assert.equal(await bob.page.$('#messages [data-note=undecryptable]'), null, 'nothing unreadable');

  // Safety numbers: what alice's page shows for bob's device is what bob's page shows for his
  // own, and the other way round.
  await alice.page.waitForSelector('#safety-list li[data-safety-user=bob]');
  await bob.page.waitForSelector('#safety-list li[data-safety-user=alice]');
  const a = await safetyNumbers(alice.page);
  const b = await safetyNumbers(bob.page);
  assert.equal(a.own.user, 'alice');
  assert.equal(b.own.user, 'bob');
  assert.deepEqual([...a.byUser.keys()].sort(), ['alice', 'bob']);
  assert.deepEqual([...b.byUser.keys()].sort(), ['alice', 'bob']);
  assert.equal(a.byUser.get('bob').device, b.own.device, 'alice sees bob\'s device');
  assert.equal(a.byUser.get('bob').number, b.own.number, 'alice\'s number for bob is the one bob sees for himself');
  assert.equal(b.byUser.get('alice').device, a.own.device, 'bob sees alice\'s device');
  assert.equal(b.byUser.get('alice').number, a.own.number, 'bob\'s number for alice is the one alice sees for herself');
  assert.notEqual(a.own.number, b.own.number);
  assert.equal(await bob.page.evaluate(async () => (await window.starling.e2e.ready).device.safetyNumber()), b.own.number, 'the SDK\'s device.safetyNumber()');
  await screenshot(alice.page, 'e2e-alice');
  await screenshot(bob.page, 'e2e-bob');

  // Bob reloads: the same device (its keys are in localStorage), the same safety number, what it
  // read before still shown, and new messages read both ways.
  await bob.page.reload();
  await bob.page.waitForSelector('body[data-state=connected]');
  await assertLocks(bob.page);
  await bob.page.waitForSelector(`#messages li.msg[data-from=alice]:has-text("${SECRETS[0]}")`);
  await bob.page.waitForSelector('#safety-list li[data-own]');
  const reloaded = await safetyNumbers(bob.page);
  assert.deepEqual(reloaded.own, b.own, 'the same device and safety number after the reload');
  await say(alice.page, SECRETS[2]);
  await bob.page.waitForSelector(`#messages li.msg[data-from=alice]:has-text("${SECRETS[2]}")`);
  await say(bob.page, 'And my replies still reach you');
  await alice.page.waitForSelector('#messages li.msg[data-from=bob]:has-text("And my replies still reach you")');
  assert.equal(await bob.page.$('#messages [data-note=undecryptable]'), null, 'nothing unreadable after the reload');
  await screenshot(bob.page, 'e2e-bob-after-reload');
  assertNoPageErrors(alice, bob);
});

test('the server stored only MLS ciphertext: no plaintext in any body, as text or decoded', async () => {
  const stored = await storedBodies();
  // 2 Commits (the group, bob added) and 4 application messages.
  assert.equal(stored.length, 6, JSON.stringify(stored.map((m) => m.seq)));
  for (const m of stored) {
    assert.match(m.body, /^[A-Za-z0-9+/]+={0,2}$/, `seq ${m.seq} is base64`);
    const bytes = Buffer.from(m.body, 'base64');
    // MLSMessage: version mls10 (1), then the wire format: 1 PublicMessage, 2 PrivateMessage.
    assert.equal(bytes.readUInt16BE(0), 1, `seq ${m.seq} is an mls10 message`);
    assert.ok([1, 2].includes(bytes.readUInt16BE(2)), `seq ${m.seq} is a Public or PrivateMessage`);
    for (const secret of [...SECRETS, 'And my replies still reach you']) {
      assert.ok(!m.body.includes(secret), `seq ${m.seq}'s body holds no plaintext`);
      assert.ok(!bytes.toString('latin1').includes(secret), `seq ${m.seq}'s decoded bytes hold no plaintext`);
    }
  }
  // Every application message of this test (4) is a PrivateMessage.
  assert.equal(stored.filter((m) => Buffer.from(m.body, 'base64').readUInt16BE(2) === 2).length >= 4, true);
});

test('a message the device cannot decrypt shows as such, never as a blank message', async () => {
  // Carol's WebSocket goes through a route, so the test can deliver a frame the server never
  // sent: a message of the room whose body is base64 but no MLS message of the group.
  const sockets = [];
  const carol = await openPage(browser, devstack.url, {
    beforeLoad: (page) =>
      page.routeWebSocket(/\/local/, (ws) => {
        sockets.push(ws);
        ws.connectToServer();
      }),
  });
  const page = carol.page;
  await signIn(page, 'carol');
  await keyPackagesPublished(page);
  await alice.page.fill('#add-member', 'carol');
  await alice.page.press('#add-member', 'Enter');
  await page.waitForSelector(`#room-list [data-room="${ROOM}"] ${LOCK}`);
  await page.click(`#room-list [data-room="${ROOM}"]`);
  await page.waitForSelector('#room-sub:has-text("3 devices · epoch 3")');

  const seq = (await page.evaluate((room) => window.starling.client.lastSeq(room), ROOM)) + 1;
  const forged = { room: ROOM, seq, id: 'forged-by-the-test', from: 'alice', body: 'AAECAwQFBgcICQ==', sentAt: new Date().toISOString() };
  sockets.at(-1).send(JSON.stringify({ type: 'messages', room: ROOM, messages: [forged] }));
  const shown = page.locator(`#messages li.msg[data-seq="${seq}"][data-note=undecryptable]`);
  await shown.waitFor();
  assert.match(await shown.locator('.body').textContent(), /could not be decrypted on this device/);
  assert.equal(await shown.getAttribute('data-from'), 'alice', 'the sender the server named');
  await shown.locator('.lock[aria-label="not readable"]').waitFor();
  await screenshot(page, 'e2e-carol-undecryptable');
  await page.context().close();
  assertNoPageErrors(alice, bob, carol);
});
