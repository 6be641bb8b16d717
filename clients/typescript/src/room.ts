import type { StoredMessage } from './generated/protocol.js';

/**
 * One room's merge (protocol.md §7, "Sync"): messages arrive live and from `sync` pages, in any
 * interleaving, some twice; the tracker hands each seq over once and in order. `delivered` is
 * the highest seq such that every seq up to it was handed over or is known to be gone (past
 * retention); messages beyond a gap wait in `pending` until the gap is filled or settled.
 */
export class SeqTracker {
  #delivered: number;
  readonly #pending = new Map<number, StoredMessage>();

  /** @param delivered every seq up to this one the application already has (0: none). */
  constructor(delivered: number) {
    this.#delivered = delivered;
  }

  /** The highest seq handed over, with every seq below it handed over or gone. */
  get delivered(): number {
    return this.#delivered;
  }

  /** Whether messages wait behind a gap, which a `sync` from {@link delivered} fills. */
  get hasGap(): boolean {
    return this.#pending.size > 0;
  }

  /** Takes one message, live or synced; returns the messages now deliverable, in seq order. */
  offer(message: StoredMessage): StoredMessage[] {
    if (message.seq > this.#delivered && !this.#pending.has(message.seq)) {
      this.#pending.set(message.seq, message);
    }
    return this.#drain();
  }

  /**
   * A `synced` with this `lastSeq`: every retained message up to it was sent before, so a seq up
   * to `lastSeq` still missing is gone. Hands over what waits up to there (and whatever follows
   * without a gap), and moves past the gap.
   */
  settle(lastSeq: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (const seq of [...this.#pending.keys()].sort((a, b) => a - b)) {
      if (seq > lastSeq) break;
      const message = this.#pending.get(seq);
      this.#pending.delete(seq);
      if (message !== undefined && seq > this.#delivered) {
        this.#delivered = seq;
        out.push(message);
      }
    }
    this.#delivered = Math.max(this.#delivered, lastSeq);
    out.push(...this.#drain());
    return out;
  }

  /**
   * Jumps to `seq` without handing anything over: the seqs up to it are skipped (the
   * application can page back through them with `history`). Waiting messages at or below it
   * are dropped.
   */
  skipTo(seq: number): void {
    if (seq <= this.#delivered) return;
    for (const pending of [...this.#pending.keys()]) if (pending <= seq) this.#pending.delete(pending);
    this.#delivered = seq;
  }

  #drain(): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (;;) {
      const next = this.#pending.get(this.#delivered + 1);
      if (next === undefined) break;
      this.#pending.delete(next.seq);
      this.#delivered = next.seq;
      out.push(next);
    }
    return out;
  }
}
