// What the browser test runs on: a devstack process on a free port, and Debian's Chromium
// driven by playwright-core (no browser download: it cannot work here, and CI installs the
// `chromium` package instead).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** Screenshots and logs, under the repository's target/. */
export const out = join(repo, 'target/browser');
const devstackBin = process.env.STARLING_DEVSTACK_BIN ?? join(repo, 'target/debug/starling-devstack');
const chromiumBin = process.env.STARLING_CHROMIUM ?? '/usr/bin/chromium';
/**
 * With STARLING_WEB_FROM_DIST=1 the pages get the page's files from clients/web/dist/ on disk
 * instead of those compiled into the devstack: to test a rebuilt page with a devstack binary
 * built before it (CI rebuilds the binary, so it serves the same files anyway).
 */
const fromDist = process.env.STARLING_WEB_FROM_DIST === '1';
const distFiles = { '/': 'index.html', '/index.html': 'index.html', '/app.js': 'app.js', '/app.css': 'app.css' };
const distTypes = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

/** How long one step (a message arriving, a page loading) may take. */
export const STEP_MS = 15_000;

async function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Starts `starling-devstack` with `args` on a free port; resolves once it serves the page. */
export async function startDevstack(name, args = []) {
  if (!existsSync(devstackBin)) {
    throw new Error(`no devstack binary at ${devstackBin}: run \`cargo build -p starling-devstack\` or set STARLING_DEVSTACK_BIN`);
  }
  await mkdir(out, { recursive: true });
  const port = await freePort();
  const log = createWriteStream(join(out, `${name}.log`));
  const child = spawn(devstackBin, ['--port', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal}`));
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) throw new Error(`the devstack ${exited}; see ${join(out, `${name}.log`)}`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`the devstack did not serve ${url} within 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      if (exited !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5_000))]);
      if (exited === null) child.kill('SIGKILL');
    },
  };
}

/**
 * Debian's Chromium, headless. Playwright gives it a fresh temporary `--user-data-dir` of its
 * own (and refuses one in `args`); the other flags keep it off the network and quiet here.
 */
export async function launchChromium() {
  if (!existsSync(chromiumBin)) {
    throw new Error(`no Chromium at ${chromiumBin}: apt-get install -y chromium (scripts/web.sh does), or set STARLING_CHROMIUM`);
  }
  return chromium.launch({
    executablePath: chromiumBin,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // A page answered by a route has no address, so Chromium would count it as public and
      // block its WebSocket to the loopback devstack (Local Network Access).
      ...(fromDist ? ['--disable-features=LocalNetworkAccessChecks'] : []),
    ],
  });
}

/**
 * A page in its own browser context (its own storage, as another person's browser), that
 * records the page's uncaught errors and console errors so the test can fail on them.
 */
export async function openPage(browser, url, { beforeLoad } = {}) {
  const context = await browser.newContext({ viewport: { width: 1180, height: 720 } });
  if (fromDist) await serveDist(context, url);
  const page = await context.newPage();
  await beforeLoad?.(page);
  page.setDefaultTimeout(STEP_MS);
  const errors = [];
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  return { page, errors };
}

/** Answers the page's own files under `url` from clients/web/dist/ (see STARLING_WEB_FROM_DIST). */
async function serveDist(context, url) {
  const origin = new URL(url).origin;
  await context.route((u) => u.origin === origin && u.pathname in distFiles, async (route) => {
    const name = distFiles[new URL(route.request().url()).pathname];
    const body = await readFile(join(repo, 'clients/web/dist', name));
    await route.fulfill({ status: 200, body, headers: { 'content-type': distTypes[name.split('.').pop()], 'cache-control': 'no-cache' } });
  });
}

/** Signs in as `user` through the dev token form and waits until connected. */
export async function signIn(page, user) {
  await page.fill('#signin-user', user);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('body[data-state=connected]');
  await page.waitForSelector('#room-title:has-text("lobby")');
}

/** Types `text` in the composer and sends it with Enter. */
export async function say(page, text) {
  await page.fill('#composer-input', text);
  await page.press('#composer-input', 'Enter');
}

/** The seqs of the messages shown, in page order. */
export async function shownSeqs(page) {
  return page.$$eval('#messages li.msg', (els) => els.map((e) => Number(e.dataset.seq)));
}

export async function screenshot(page, name) {
  await mkdir(out, { recursive: true });
  await page.screenshot({ path: join(out, `${name}.png`) });
}

/**
 * Registers the test file's hooks: before it, a devstack named `name` (its log is
 * target/browser/{name}.log), Chromium, and two pages in their own contexts, handed to `ready`
 * as { devstack, browser, alice, bob } (not signed in); after it, all of it stopped.
 */
export function twoPages(name, ready) {
  const made = {};
  before(async () => {
    made.devstack = await startDevstack(name);
    made.browser = await launchChromium();
    made.alice = await openPage(made.browser, made.devstack.url);
    made.bob = await openPage(made.browser, made.devstack.url);
    ready(made);
  });
  after(async () => {
    await made.browser?.close();
    await made.devstack?.stop();
    console.log(`screenshots and logs: ${out}`);
  });
}

/** Fails on the pages' uncaught errors and console errors so far. */
export function assertNoPageErrors(...pages) {
  for (const p of pages) assert.deepEqual(p.errors, [], 'the page logged errors');
}
