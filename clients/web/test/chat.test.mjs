// The chat page in headless Chromium against a real devstack: two people chat, see each other's
// presence, typing, reads and the room's activity; a reload resumes without duplicates or gaps; a dropped connection
// shows the banner and queued messages go out after it; without the dev secret the page says
// where tokens come from. Screenshots go to target/browser/.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STEP_MS, assertNoPageErrors, openPage, out, say, screenshot, shownSeqs, signIn, startDevstack, twoPages } from './harness.mjs';

let devstack;
let browser;
let alice;
let bob;

twoPages('devstack', (made) => ({ devstack, browser, alice, bob } = made));

test('two pages sign in, chat both ways, and see presence, typing, reads and activity', async () => {
  await screenshot(alice.page, 'signin');
  await signIn(alice.page, 'alice');
  await signIn(bob.page, 'bob');

  await say(alice.page, 'Hi Bob! Is the devstack running for you too?');
  await bob.page.waitForSelector('#messages li.msg[data-from=alice]:has-text("Hi Bob!")');
  await say(bob.page, 'It is: cargo run -p starling-devstack and this page, nothing else.');
  await alice.page.waitForSelector('#messages li.msg[data-from=bob]:has-text("nothing else")');
  await say(alice.page, 'Reloading should not lose anything either.');
  await bob.page.waitForSelector('#messages li.msg[data-from=alice]:has-text("Reloading")');

  // Presence dots: each sees the other online in the room's member list.
  await alice.page.waitForSelector('#member-list [data-user=bob][data-status=online]');
  await bob.page.waitForSelector('#member-list [data-user=alice][data-status=online]');

  // Typing: bob types for a while without sending (the server passes one `typing` per 2 s, and
  // his last went out with his message); alice's indicator names him.
  await bob.page.locator('#composer-input').pressSequentially('Let me check the seqs', { delay: 150 });
  await alice.page.waitForSelector('#typing[data-users~=bob]');
  assert.match(await alice.page.textContent('#typing'), /bob is typing/);

  // Read receipts: each page marks what it shows as read; the other sees "Seen by".
  await alice.page.waitForSelector('#messages .receipt[data-seen-by~=bob]');
  await bob.page.waitForSelector('#messages .receipt[data-seen-by~=alice]');

  const [a, b] = [await shownSeqs(alice.page), await shownSeqs(bob.page)];
  assert.deepEqual(a, [1, 2, 3]);
  assert.deepEqual(b, [1, 2, 3]);

  // The room's activity panel (the `stats` action): 3 messages from 2 senders, each delivered to
  // both pages.
  await bob.page.waitForSelector('#room-stats[data-room=lobby][data-messages="3"][data-senders="2"][data-deliveries="6"]:visible');
  assert.equal(await bob.page.textContent('#stats-messages'), '3');
  assert.equal(await bob.page.locator('#stats-bars span').count(), 60, 'one bar per minute of the hour');
  await screenshot(alice.page, 'alice');
  await screenshot(bob.page, 'bob');
  assertNoPageErrors(alice, bob);
});

test('a reload resumes with every message once and no gap, including those sent meanwhile', async () => {
  await bob.page.fill('#composer-input', '');
  for (const n of [1, 2, 3]) await say(alice.page, `Before the reload, ${n}`);
  await bob.page.waitForSelector('#messages li.msg[data-seq="6"]');

  // Bob's page goes away; alice goes on; bob comes back to the same tab (sessionStorage keeps
  // who he is, localStorage the SDK's seqs).
  await bob.page.goto('about:blank');
  for (const n of [1, 2]) await say(alice.page, `While bob was away, ${n}`);
  await alice.page.waitForSelector('#messages li.msg[data-seq="8"]');
  await bob.page.goto(devstack.url);
  await bob.page.waitForSelector('body[data-state=connected]');
  // Loaded: the newest history page is in, as well as what the SDK delivered after its seq.
  await bob.page.waitForSelector('#messages[data-loaded=true] li.msg[data-seq="8"]');
  assert.deepEqual(await shownSeqs(bob.page), [1, 2, 3, 4, 5, 6, 7, 8]);

  // And a plain reload, with alice sending while it happens.
  await Promise.all([bob.page.reload(), say(alice.page, 'During the reload')]);
  await bob.page.waitForSelector('body[data-state=connected]');
  await bob.page.waitForSelector('#messages[data-loaded=true] li.msg[data-seq="9"]:has-text("During the reload")');

  const seqs = await shownSeqs(bob.page);
  assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9], 'every seq once, in order, no gap');
  const stored = await bob.page.evaluate(() => localStorage.getItem('starling-web:bob:seq:lobby'));
  assert.equal(stored, '9', 'the SDK kept the last delivered seq in localStorage');
  assert.deepEqual(await shownSeqs(alice.page), seqs);
  await screenshot(bob.page, 'bob-after-reload');
  assertNoPageErrors(alice, bob);
});

test('a dropped connection shows the reconnecting banner and sends what was queued after it', async () => {
  // Carol's page gets its WebSocket through a route the test controls. It must be set before
  // the page loads: the SDK keeps the WebSocket constructor it was created with.
  const gate = { refuse: false, refused: 0 };
  const carol = await openPage(browser, devstack.url, {
    beforeLoad: (page) =>
      page.routeWebSocket(/\/local/, (ws) => {
        if (!gate.refuse) return void ws.connectToServer();
        gate.refused += 1;
        ws.close({ code: 1011, reason: 'refused by the test' });
      }),
  });
  const page = carol.page;
  await signIn(page, 'carol');
  await page.waitForSelector('#messages[data-loaded=true] li.msg[data-seq="9"]');

  gate.refuse = true;
  await page.evaluate(() => window.starling.client.dropConnection());
  await page.waitForSelector('#banner[data-state=reconnecting]:visible');
  await say(page, 'Sent while offline: waits in the outbox');
  await page.waitForSelector('#pending li:has-text("Sent while offline")');
  const deadline = Date.now() + STEP_MS;
  while (gate.refused < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(gate.refused >= 2, `the page tried to reconnect (${gate.refused} refused)`);
  assert.match(await page.textContent('#banner'), /Reconnecting… the connection dropped\. 1 message will be sent/);
  assert.equal(await bob.page.$('#messages li.msg:has-text("Sent while offline")'), null, 'nothing went out while refused');
  await screenshot(page, 'carol-reconnecting');

  gate.refuse = false;
  await page.waitForSelector('body[data-state=connected]', { timeout: STEP_MS * 3 });
  assert.equal(await page.isHidden('#banner'), true, 'the banner goes away once connected');
  await bob.page.waitForSelector('#messages li.msg[data-from=carol]:has-text("Sent while offline")');
  await page.waitForSelector('#pending li', { state: 'detached' });
  assert.deepEqual(await shownSeqs(bob.page), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(await shownSeqs(page), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  await page.context().close();
  assertNoPageErrors(alice, bob, carol);
});

test('a DM opened from the member list reaches the other user', async () => {
  await alice.page.click('#member-list [data-user=bob]');
  await alice.page.waitForSelector('#room-title:has-text("bob")');
  await say(alice.page, 'Psst, a direct message');
  // Bob's page joined the DM room with alice in the background; it shows up with a badge.
  await bob.page.waitForSelector('#dm-list [data-room="dm:alice:bob"] .badge');
  assert.equal(await bob.page.title(), '(1) Starling chat', 'the unread count is in the tab title');
  await bob.page.click('#dm-list [data-room="dm:alice:bob"]');
  await bob.page.waitForSelector('#messages li.msg[data-room="dm:alice:bob"]:has-text("Psst")');
  await screenshot(bob.page, 'bob-dm');
  assertNoPageErrors(alice, bob);
});

test('a DM sent before the other user ever opened the page shows up there unread', async () => {
  // dave has no page yet: his page finds the DM only when it joins the room after the fact, the
  // path a rate-limited or slow background join also takes.
  await alice.page.fill('#dm-user', 'dave');
  await alice.page.press('#dm-user', 'Enter');
  await alice.page.waitForSelector('#room-title:has-text("dave")');
  await say(alice.page, 'Dave, read this when you are in');
  await alice.page.waitForSelector('#messages li.msg[data-room="dm:alice:dave"]:has-text("read this")');

  const dave = await openPage(browser, devstack.url);
  await signIn(dave.page, 'dave');
  await dave.page.waitForSelector('#dm-list [data-room="dm:alice:dave"] .badge:has-text("1")');
  assert.equal(await dave.page.title(), '(1) Starling chat', 'the message dave never saw counts as unread');
  await dave.page.click('#dm-list [data-room="dm:alice:dave"]');
  await dave.page.waitForSelector('#messages li.msg[data-room="dm:alice:dave"]:has-text("read this")');
  await dave.page.context().close();
  assertNoPageErrors(alice, dave);
});

test('without the development secret the page asks for a token from your own auth', async () => {
  const other = await startDevstack('devstack-own-secret', ['--jwt-secret', 'not-the-dev-secret']);
  try {
    const { page, errors } = await openPage(browser, other.url);
    await page.waitForSelector('#token-form:visible');
    assert.match(await page.textContent('#token-why'), /tokens must come from your own auth/);
    assert.equal(await page.isHidden('#signin-form'), true);
    await screenshot(page, 'no-dev-tokens');
    assert.equal(await page.inputValue('#token-url'), other.url.replace('http://', 'ws://') + 'local');
    assert.deepEqual(errors, []);
  } finally {
    await other.stop();
  }
});
