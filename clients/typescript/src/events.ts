/** A listener of event `K` of the map `E`. */
export type Listener<E, K extends keyof E> = (payload: E[K]) => void;

/**
 * A small typed event emitter. A listener that throws does not stop the others or the SDK: the
 * error is reported through `onListenerError`.
 */
export class Emitter<E> {
  readonly #listeners = new Map<keyof E, Set<(payload: never) => void>>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void = (e) => queueMicrotask(() => { throw e; })) {
    this.#onListenerError = onListenerError;
  }

  /** Calls `listener` on every `event`; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: Listener<E, K>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (payload: never) => void);
    return () => this.off(event, listener);
  }

  /** Calls `listener` on the next `event` only. */
  once<K extends keyof E>(event: K, listener: Listener<E, K>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  /** Removes `listener`. */
  off<K extends keyof E>(event: K, listener: Listener<E, K>): void {
    this.#listeners.get(event)?.delete(listener as (payload: never) => void);
  }

  /** Calls every listener of `event` with `payload`. */
  emit<K extends keyof E>(event: K, payload: E[K]): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as (payload: E[K]) => void)(payload);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }

  /** How many listeners `event` has. */
  listenerCount(event: keyof E): number {
    return this.#listeners.get(event)?.size ?? 0;
  }
}
