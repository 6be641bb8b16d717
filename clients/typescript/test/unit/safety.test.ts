// The safety number's shared test vector: the CLI (cli/src/e2e/safety.rs) checks the same one,
// so a member's number reads the same in every Starling client.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { safetyNumber } from '../../dist/index.js';

test('the safety number of the shared vector is the one the CLI computes', async () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  const number = await safetyNumber('alice/laptop', key);
  assert.equal(number, '38007 06484 92708 03594 49042 59524 12383 19211 51561 50304 99151 52204');
});
