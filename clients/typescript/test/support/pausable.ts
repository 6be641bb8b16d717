// A WebSocket whose incoming messages can be held back, to make one client see the server's
// frames late (a member that has not yet seen another's Commit when it makes its own).
import type { WebSocketConstructor } from '../../dist/index.js';

/** Holds every connection's incoming messages while {@link paused}; {@link resume} delivers them in order. */
export class Pause {
  paused = false;
  /** Frames delivered even while paused (replies the client needs to go on, e.g. `keyPackages`). */
  passes: (text: string) => boolean = () => false;
  /** Text messages held, oldest first. */
  readonly held: string[] = [];
  /** Frames the client sent, parsed. */
  readonly sent: Array<Record<string, unknown>> = [];
  readonly #flushers: Array<() => void> = [];

  /** The constructor to pass as `options.WebSocket`. */
  get WebSocket(): WebSocketConstructor {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const pause = this;
    return class extends WebSocket {
      readonly #queue: Array<{ listener: (event: MessageEvent) => void; event: MessageEvent }> = [];

      constructor(url: string) {
        super(url);
        pause.#flushers.push(() => {
          for (const { listener, event } of this.#queue.splice(0)) listener.call(this, event);
        });
      }

      override send(data: string): void {
        pause.sent.push(JSON.parse(data) as Record<string, unknown>);
        super.send(data);
      }

      override addEventListener(type: string, listener: never): void {
        if (type !== 'message') return super.addEventListener(type, listener);
        const inner = listener as (event: MessageEvent) => void;
        super.addEventListener('message', (event: MessageEvent) => {
          const passes = typeof event.data === 'string' && pause.paused && pause.passes(event.data);
          if ((!pause.paused && this.#queue.length === 0) || passes) return inner.call(this, event);
          this.#queue.push({ listener: inner, event });
          if (typeof event.data === 'string') pause.held.push(event.data);
        });
      }
    } as unknown as WebSocketConstructor;
  }

  /** Delivers what was held, in order, and stops holding. */
  resume(): void {
    this.paused = false;
    this.held.splice(0);
    for (const flush of this.#flushers) flush();
  }
}
