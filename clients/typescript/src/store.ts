import type { RoomId } from './generated/protocol.js';

/**
 * Where the SDK keeps, per room, the last seq it handed to the application, so that a reconnect
 * (or a page reload, with a persistent store) resumes after it. Methods may be synchronous or
 * return promises.
 */
export interface SeqStore {
  /** The room's last handed-over seq, or `undefined` when the room is unknown. */
  get(room: RoomId): number | undefined | Promise<number | undefined>;
  /** Remembers the room's last handed-over seq. Called only with growing values per room. */
  set(room: RoomId, seq: number): void | Promise<void>;
  /** Forgets the room (after `leave`). Optional. */
  delete?(room: RoomId): void | Promise<void>;
}

/** A {@link SeqStore} in memory: resumes across reconnects, not across page reloads. */
export class MemoryStore implements SeqStore {
  readonly #seqs = new Map<RoomId, number>();

  get(room: RoomId): number | undefined {
    return this.#seqs.get(room);
  }

  set(room: RoomId, seq: number): void {
    this.#seqs.set(room, seq);
  }

  delete(room: RoomId): void {
    this.#seqs.delete(room);
  }
}

/** The part of the Web Storage API that {@link LocalStorageStore} uses. */
export interface StorageLike {
  /** The value under `key`, or `null`. */
  getItem(key: string): string | null;
  /** Stores `value` under `key`. */
  setItem(key: string, value: string): void;
  /** Removes `key`. */
  removeItem(key: string): void;
}

/**
 * A {@link SeqStore} in `localStorage` (or any Web Storage), so a page reload resumes where it
 * left off. Keys are `{prefix}{room}`. Use one prefix per user when users share a browser.
 */
export class LocalStorageStore implements SeqStore {
  readonly #storage: StorageLike;
  readonly #prefix: string;

  /**
   * @param prefix key prefix, default `starling:seq:`.
   * @param storage default `globalThis.localStorage`.
   */
  constructor(prefix = 'starling:seq:', storage?: StorageLike) {
    const found = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    if (found === undefined) throw new Error('LocalStorageStore: no localStorage here; pass a storage');
    this.#storage = found;
    this.#prefix = prefix;
  }

  get(room: RoomId): number | undefined {
    const raw = this.#storage.getItem(this.#prefix + room);
    if (raw === null) return undefined;
    const seq = Number(raw);
    // A value another program wrote is ignored rather than trusted as a seq.
    return Number.isSafeInteger(seq) && seq >= 0 ? seq : undefined;
  }

  set(room: RoomId, seq: number): void {
    this.#storage.setItem(this.#prefix + room, String(seq));
  }

  delete(room: RoomId): void {
    this.#storage.removeItem(this.#prefix + room);
  }
}
