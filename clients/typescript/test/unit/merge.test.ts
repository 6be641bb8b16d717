// The merge of live and synced messages (protocol.md §7 "Sync"), attacked with the
// interleavings the server is allowed to produce.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StoredMessage, SyncRequest, SyncedFrame } from '../../dist/index.js';
import { Inbox } from '../../dist/inbox.js';
import { SeqTracker } from '../../dist/room.js';

const msg = (seq: number, room = 'r'): StoredMessage => ({ room, seq, id: `id-${seq}`, from: 'bob', body: `m${seq}`, sentAt: '2026-11-22T21:00:00.000Z' });
const seqs = (ms: readonly StoredMessage[]): number[] => ms.map((m) => m.seq);
const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
const synced = (lastSeq: number, extra: Partial<SyncedFrame> = {}): SyncedFrame => ({ type: 'synced', room: 'r', recovered: true, lastSeq, ...extra });

test('a live message ahead of the sync waits until the sync pages fill the gap', () => {
  const t = new SeqTracker(0);
  assert.deepEqual(t.offer(msg(601)), [], '601 cannot be handed over before 1');
  const out: StoredMessage[] = [];
  for (let s = 1; s <= 600; s++) out.push(...t.offer(msg(s)));
  assert.deepEqual(seqs(out), range(1, 601));
  assert.deepEqual(t.settle(600), [], 'a synced below what is held hands over nothing twice');
  assert.equal(t.delivered, 601, 'and does not move delivered back');
});

test('duplicates are dropped whether they come live, synced, or repeated while waiting', () => {
  const t = new SeqTracker(3);
  assert.deepEqual(t.offer(msg(2)), [], 'at or below delivered');
  assert.deepEqual(seqs(t.offer(msg(4))), [4]);
  assert.deepEqual(t.offer(msg(4)), [], 'the same seq again');
  assert.deepEqual(t.offer(msg(6)), []);
  assert.deepEqual(t.offer(msg(6)), [], 'a duplicate of one waiting behind a gap');
  assert.deepEqual(seqs(t.offer(msg(5))), [5, 6]);
});

test('synced settles seqs that never came (past retention) and hands over what waited behind them', () => {
  const t = new SeqTracker(0);
  assert.deepEqual(t.offer(msg(9)), []);
  for (const s of [5, 6, 7]) assert.deepEqual(t.offer(msg(s)), [], '1–4 may still come');
  assert.deepEqual(seqs(t.settle(8)), [5, 6, 7, 9]);
  assert.equal(t.delivered, 9);
  assert.equal(t.hasGap, false);
});

test('the inbox syncs every room from its delivered seq, at most 50 rooms per request', () => {
  const inbox = new Inbox();
  for (let i = 0; i < 120; i++) inbox.track(`room${i}`, i);
  const requests = inbox.beginSync();
  assert.deepEqual(requests.map((r) => Object.keys(r.rooms).length), [50, 50, 20]);
  assert.ok(requests.every((r) => r.pages === true), 'new clients ask for pages');
  assert.equal(requests[1]?.rooms.room77, 77);
  assert.deepEqual(inbox.nextSyncs(), [], 'no second sync of a room while one is out');
});

test('a synced with hasMore asks for the rest from its lastSeq', () => {
  const inbox = new Inbox();
  inbox.track('r', 0);
  inbox.beginSync();
  inbox.offer('r', range(1, 4).map((s) => msg(s)));
  const step = inbox.onSynced(synced(4, { hasMore: true }));
  assert.deepEqual(seqs(step.deliver), []);
  assert.deepEqual(inbox.nextSyncs(), [{ action: 'sync', rooms: { r: 4 }, pages: true }]);
});

test('a live gap with no sync out asks for a sync of that room from its delivered seq', () => {
  const inbox = new Inbox();
  inbox.track('r', 10);
  assert.deepEqual(seqs(inbox.offer('r', [msg(11)])), [11]);
  assert.deepEqual(inbox.nextSyncs(), []);
  assert.deepEqual(inbox.offer('r', [msg(13)]), [], '13 waits for 12');
  assert.deepEqual(inbox.nextSyncs(), [{ action: 'sync', rooms: { r: 11 }, pages: true }]);
  assert.deepEqual(seqs(inbox.offer('r', [msg(12)])), [12, 13]);
});

test('recovered:false resumes from the newest history page and reports the skipped seqs as a gap', () => {
  const inbox = new Inbox();
  inbox.track('r', 10);
  inbox.beginSync();
  // Seqs 11–500 expired; the sync sent 501–520, and a live 521 came meanwhile.
  inbox.offer('r', range(501, 521).map((s) => msg(s)));
  const step = inbox.onSynced(synced(520, { recovered: false }));
  assert.deepEqual(step.deliver, [], 'nothing is handed over before the history page');
  assert.equal(step.needHistory, 'r');
  assert.deepEqual(inbox.nextSyncs(), [], 'no sync while the room resets, or it would loop on recovered:false');
  const reset = inbox.resetFromHistory('r', range(511, 520).map((s) => msg(s)));
  assert.deepEqual(seqs(reset.deliver), range(511, 521), 'the newest page, then what waited after it');
  assert.deepEqual(reset.gap, { room: 'r', fromSeq: 11, toSeq: 510 });
  assert.equal(inbox.delivered('r'), 521);
});

test('recovered:false whose history request failed settles as synced said, still reporting the gap', () => {
  const inbox = new Inbox();
  inbox.track('r', 2);
  inbox.beginSync();
  inbox.offer('r', [msg(8), msg(9)]);
  inbox.onSynced(synced(9, { recovered: false }));
  const step = inbox.resetFromHistory('r', undefined);
  assert.deepEqual(seqs(step.deliver), [8, 9]);
  assert.deepEqual(step.gap, { room: 'r', fromSeq: 3, toSeq: 7 });
});

test('frames of a room the inbox does not track are ignored', () => {
  const inbox = new Inbox();
  assert.deepEqual(inbox.offer('other', [msg(1, 'other')]), []);
  assert.deepEqual(inbox.onSynced({ ...synced(3), room: 'other' }).deliver, []);
});

/** A deterministic xorshift, so the interleavings are many but the same on every run. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return n <= 1 ? 0 : x % n;
  };
}

test('every seq once and in order across 500 random interleavings of live, synced and repeated frames', () => {
  for (let seed = 1; seed <= 500; seed++) {
    const next = rng(seed * 2_654_435_761);
    const held = next(20);
    let head = 40 + next(40);
    const page = 1 + next(7);
    const budget = 1 + next(4);
    const liveTotal = next(30);
    const inbox = new Inbox();
    inbox.track('r', held);
    const wire: Array<{ kind: 'page'; messages: StoredMessage[] } | { kind: 'live'; m: StoredMessage } | { kind: 'synced'; f: SyncedFrame }> = [];
    let requests: SyncRequest[] = inbox.beginSync();
    let liveSent = 0;
    const delivered: StoredMessage[] = [];
    for (let step = 0; step < 10_000; step++) {
      for (const request of requests.splice(0)) {
        // The server answers from `after`, at most `budget` pages, then synced (with hasMore when cut).
        const after = request.rooms.r ?? 0;
        const frames: typeof wire = [];
        let nextSeq = after + 1;
        for (let p = 0; p < budget && nextSeq <= head; p++) {
          const end = Math.min(head, nextSeq + page - 1);
          frames.push({ kind: 'page', messages: range(nextSeq, end).map((s) => msg(s)) });
          nextSeq = end + 1;
        }
        const hasMore = nextSeq <= head;
        frames.push({ kind: 'synced', f: synced(hasMore ? nextSeq - 1 : head, hasMore ? { hasMore: true } : {}) });
        // Live messages sent meanwhile land anywhere among the sync's frames, some twice.
        while (liveSent < liveTotal && next(3) === 0) {
          head += 1;
          liveSent += 1;
          const at = next(frames.length + 1);
          frames.splice(at, 0, { kind: 'live', m: msg(head) });
          if (next(4) === 0) frames.splice(at + 1, 0, { kind: 'live', m: msg(head) });
        }
        wire.push(...frames);
      }
      const frame = wire.shift();
      if (frame === undefined) break;
      if (frame.kind === 'page') delivered.push(...inbox.offer('r', frame.messages));
      else if (frame.kind === 'live') delivered.push(...inbox.offer('r', [frame.m]));
      else delivered.push(...inbox.onSynced(frame.f).deliver);
      requests = inbox.nextSyncs();
    }
    assert.equal(inbox.busy, false, `seed ${seed}: the procedure ended`);
    assert.deepEqual(seqs(delivered), range(held + 1, head), `seed ${seed}`);
  }
});
