import type { StorageLike } from '../store.js';

/**
 * Where a device keeps its identity, the private parts of its published KeyPackages and its
 * groups' states, as strings under string keys. Methods may be synchronous or return promises.
 * Give each device (user and browser profile, or app installation) its own storage: whoever can
 * read it holds the device's keys.
 */
export interface DeviceStorage {
  /** The value under `key`, or `undefined` (or `null`) when there is none. */
  get(key: string): string | undefined | null | Promise<string | undefined | null>;
  /** Stores `value` under `key`. */
  set(key: string, value: string): void | Promise<void>;
  /** Removes `key`. */
  delete(key: string): void | Promise<void>;
}

/** A {@link DeviceStorage} in memory: the device lives as long as this object (tests, throwaway sessions). */
export class MemoryDeviceStorage implements DeviceStorage {
  readonly #values = new Map<string, string>();

  get(key: string): string | undefined {
    return this.#values.get(key);
  }

  set(key: string, value: string): void {
    this.#values.set(key, value);
  }

  delete(key: string): void {
    this.#values.delete(key);
  }

  /** The keys held, for inspection. */
  keys(): string[] {
    return [...this.#values.keys()];
  }
}

/**
 * A {@link DeviceStorage} in `localStorage` (or any Web Storage), so a page reload is the same
 * device. Keys are `{prefix}{key}`; use one prefix per user. A group of 500 members takes a few
 * hundred KB, so mind the browser's quota (about 5 MB per origin).
 */
export class LocalStorageDeviceStorage implements DeviceStorage {
  readonly #storage: StorageLike;
  readonly #prefix: string;

  /**
   * @param prefix key prefix, e.g. `starling:e2e:alice:`.
   * @param storage default `globalThis.localStorage`.
   */
  constructor(prefix: string, storage?: StorageLike) {
    const found = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    if (found === undefined) throw new Error('LocalStorageDeviceStorage: no localStorage here; pass a storage');
    this.#storage = found;
    this.#prefix = prefix;
  }

  get(key: string): string | null {
    return this.#storage.getItem(this.#prefix + key);
  }

  set(key: string, value: string): void {
    this.#storage.setItem(this.#prefix + key, value);
  }

  delete(key: string): void {
    this.#storage.removeItem(this.#prefix + key);
  }
}
