/** How reconnect attempts are spaced. */
export interface BackoffOptions {
  /** The ceiling of the first delay, in milliseconds. Default 500. */
  initialDelayMs?: number;
  /** No delay exceeds this, in milliseconds. Default 30 000. */
  maxDelayMs?: number;
  /** How much the ceiling grows per attempt. Default 2. */
  multiplier?: number;
}

/**
 * Exponential backoff with full jitter: attempt n waits a uniformly random time between 0 and
 * `min(maxDelayMs, initialDelayMs × multiplierⁿ)`. Full jitter spreads the reconnects of many
 * clients that lost the same server at the same moment, instead of having them retry in waves.
 */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #multiplier: number;
  readonly #random: () => number;
  #attempt = 0;

  /** @param random a source of numbers in [0, 1); tests pass a fixed one. */
  constructor(options: BackoffOptions = {}, random: () => number = Math.random) {
    this.#initial = options.initialDelayMs ?? 500;
    this.#max = options.maxDelayMs ?? 30_000;
    this.#multiplier = options.multiplier ?? 2;
    if (!(this.#initial >= 0 && this.#max >= 0 && this.#multiplier >= 1)) {
      throw new RangeError('backoff: delays must be ≥ 0 and the multiplier ≥ 1');
    }
    this.#random = random;
  }

  /** How many times the ceiling grew since the last {@link reset}. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The ceiling of the next delay. */
  ceiling(): number {
    if (this.#initial === 0) return 0;
    const raw = this.#initial * this.#multiplier ** this.#attempt;
    return Number.isFinite(raw) ? Math.min(this.#max, raw) : this.#max;
  }

  /** The delay before the next attempt; each call counts as one attempt. */
  next(): number {
    const delay = Math.floor(this.#random() * this.ceiling());
    // Past the cap the exponent need not grow, and must not overflow to Infinity.
    if (this.#initial > 0 && this.ceiling() < this.#max) this.#attempt += 1;
    return delay;
  }

  /** Back to the first, shortest delay: after a connection proved stable. */
  reset(): void {
    this.#attempt = 0;
  }
}
