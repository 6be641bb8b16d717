/**
 * The room activity panel: the room's last hour from the `stats` action (docs/analytics.md),
 * asked for when a room opens, STATS_AFTER_MESSAGE_MS after messages arrive and every
 * STATS_EVERY_MS.
 */
import { type RoomStats, type StarlingClient, StarlingError } from '../../typescript/src/index.js';
import { errorText } from './dom.js';
import type { RoomModel } from './rooms.js';

/**
 * The panel is asked for again at most this often while messages arrive (a `stats` of an hour
 * costs 5 of the user's 100 per 10 s), and every STATS_EVERY_MS anyway.
 */
const STATS_AFTER_MESSAGE_MS = 3_000;
const STATS_EVERY_MS = 60_000;

export class RoomActivity {
  readonly #client: StarlingClient;
  /** The room on screen. */
  readonly #current: () => RoomModel | undefined;
  readonly #show: (stats: RoomStats) => void;
  readonly #every: ReturnType<typeof setInterval>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #again = false;

  constructor(client: StarlingClient, current: () => RoomModel | undefined, show: (stats: RoomStats) => void) {
    this.#client = client;
    this.#current = current;
    this.#show = show;
    this.#every = setInterval(() => void this.refresh(), STATS_EVERY_MS);
  }

  /** The current room's activity over the last hour, for its panel (members only, like the room). */
  async refresh(): Promise<void> {
    const model = this.#current();
    if (model === undefined || !model.joined) return;
    try {
      const stats = await this.#client.stats(model.id, { minutes: 60 });
      if (this.#current()?.id === model.id) this.#show(stats);
    } catch (error) {
      // A refused or failed read leaves the panel as it was; the next refresh tries again.
      if (!(error instanceof StarlingError && error.code === 'closed')) console.warn(`stats of ${model.id}: ${errorText(error)}`);
    }
  }

  /** Refreshes STATS_AFTER_MESSAGE_MS after a message, and once more after that if more came meanwhile. */
  soon(): void {
    if (this.#timer !== undefined) {
      this.#again = true;
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.refresh();
      if (this.#again) {
        this.#again = false;
        this.soon();
      }
    }, STATS_AFTER_MESSAGE_MS);
  }

  close(): void {
    clearInterval(this.#every);
    clearTimeout(this.#timer);
  }
}
