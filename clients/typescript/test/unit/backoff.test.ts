import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../dist/index.js';

test('each delay is full jitter: anywhere from 0 up to a ceiling that doubles per attempt', () => {
  const highest = new Backoff({ initialDelayMs: 100, maxDelayMs: 10_000 }, () => 0.999999);
  assert.deepEqual([1, 2, 3, 4].map(() => highest.next()), [99, 199, 399, 799]);
  const lowest = new Backoff({ initialDelayMs: 100, maxDelayMs: 10_000 }, () => 0);
  assert.deepEqual([1, 2, 3].map(() => lowest.next()), [0, 0, 0], 'full jitter reaches down to 0, unlike "equal" jitter');
});

test('the ceiling is capped however many attempts fail, and never becomes NaN', () => {
  const backoff = new Backoff({ initialDelayMs: 500, maxDelayMs: 30_000 }, () => 0.5);
  let last = 0;
  for (let i = 0; i < 5_000; i++) last = backoff.next();
  assert.equal(last, 15_000);
  assert.equal(backoff.ceiling(), 30_000);
  const zero = new Backoff({ initialDelayMs: 0, maxDelayMs: 1_000 }, () => 0.5);
  for (let i = 0; i < 2_000; i++) assert.equal(zero.next(), 0);
});

test('reset after a stable connection brings back the shortest ceiling', () => {
  const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 10_000 }, () => 0.999999);
  for (let i = 0; i < 6; i++) backoff.next();
  assert.ok(backoff.ceiling() > 100);
  backoff.reset();
  assert.equal(backoff.ceiling(), 100);
  assert.equal(backoff.next(), 99);
});

test('nonsense settings are refused rather than producing negative or shrinking delays', () => {
  assert.throws(() => new Backoff({ initialDelayMs: -1 }), RangeError);
  assert.throws(() => new Backoff({ multiplier: 0.5 }), RangeError);
});
