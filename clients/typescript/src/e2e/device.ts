import { type KeyPackage, type PrivateKeyPackage, decodeMlsMessage, defaultCapabilities, defaultLifetime, encodeMlsMessage, generateKeyPackageWithKey } from 'ts-mls';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { fromBase64, randomBytes, toBase64, toHex } from './bytes.js';
import { E2eError } from './errors.js';
import { safetyNumber } from './safety.js';
import type { DeviceStorage } from './storage.js';
import { DEVICE_ID_PATTERN, cipherSuite, credentialOf, identityOf } from './suite.js';

/** How {@link E2eDevice.open} names a new device. */
export interface E2eDeviceOptions {
  /**
   * The device id to use when the storage holds no device yet: 1–64 of `A-Z a-z 0-9 _ . -`.
   * Default: 16 random hex digits. A storage that already holds a device keeps its id, and
   * giving another one is an error.
   */
  device?: string;
}

/** The identity as stored under `device`. */
interface StoredIdentity {
  v: 1;
  user: string;
  device: string;
  /** The Ed25519 signature key pair, base64 (the private key as ts-mls's provider exports it). */
  signaturePublicKey: string;
  signaturePrivateKey: string;
}

/** A KeyPackage this device published, with its private keys, as stored under `keyPackages`. */
interface StoredKeyPackage {
  /** The KeyPackage message, base64 (as published). */
  kp: string;
  init: string;
  hpke: string;
  lastResort?: true;
  /** When it was made, ms since the epoch. */
  at: number;
}

/** One of this device's KeyPackages, found for a Welcome. @internal */
export interface OwnKeyPackage {
  ref: string;
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
  lastResort: boolean;
}

const IDENTITY_KEY = 'device';
const KEY_PACKAGES_KEY = 'keyPackages';

/**
 * This installation's MLS identity: a device id, an Ed25519 signature key pair and the
 * credential `{user}/{device}`, kept in a {@link DeviceStorage} with the private keys of the
 * KeyPackages it published and the states of its groups. Opening the same storage again (after a
 * restart or a page reload) gives the same device, with the same key and groups.
 */
export class E2eDevice {
  /** The user id (the token's `sub`) this device belongs to. */
  readonly user: string;
  /** The device id. */
  readonly id: string;
  /** The device's Ed25519 signature public key, as in its KeyPackages and leaves. */
  readonly signaturePublicKey: Uint8Array;
  /** Where the device keeps its keys and groups. */
  readonly storage: DeviceStorage;
  readonly #signaturePrivateKey: Uint8Array;
  #writes: Promise<unknown> = Promise.resolve();

  private constructor(storage: DeviceStorage, identity: StoredIdentity) {
    this.storage = storage;
    this.user = identity.user;
    this.id = identity.device;
    this.signaturePublicKey = fromBase64(identity.signaturePublicKey);
    this.#signaturePrivateKey = fromBase64(identity.signaturePrivateKey);
  }

  /**
   * Opens the device kept in `storage` for `user`, or makes a new one there (a fresh signature
   * key pair and device id). Rejects with {@link E2eError} `device_mismatch` when the storage
   * holds another user's device, or another device id than `options.device`.
   */
  static async open(storage: DeviceStorage, user: string, options: E2eDeviceOptions = {}): Promise<E2eDevice> {
    if (options.device !== undefined && !DEVICE_ID_PATTERN.test(options.device)) {
      throw new RangeError(`${JSON.stringify(options.device)} is not a device id: 1–64 of A-Z a-z 0-9 _ . -`);
    }
    const raw = await storage.get(IDENTITY_KEY);
    if (raw !== undefined && raw !== null) {
      const stored = JSON.parse(raw) as StoredIdentity;
      if (stored.user !== user) throw new E2eError('device_mismatch', `this storage holds a device of ${stored.user}, not of ${user}`);
      if (options.device !== undefined && options.device !== stored.device) {
        throw new E2eError('device_mismatch', `this storage holds device ${stored.device}, not ${options.device}`);
      }
      return new E2eDevice(storage, stored);
    }
    const cs = await cipherSuite();
    const keys = await cs.signature.keygen();
    const identity: StoredIdentity = {
      v: 1,
      user,
      device: options.device ?? toHex(randomBytes(8)),
      signaturePublicKey: toBase64(keys.publicKey),
      signaturePrivateKey: toBase64(keys.signKey),
    };
    await storage.set(IDENTITY_KEY, JSON.stringify(identity));
    return new E2eDevice(storage, identity);
  }

  /** The credential identity, `{user}/{device}`. */
  get identity(): string {
    return identityOf({ user: this.user, device: this.id });
  }

  /** This device's safety number (see {@link safetyNumber}), as others see it for this device. */
  safetyNumber(): Promise<string> {
    return safetyNumber(this.identity, this.signaturePublicKey);
  }

  /** The signature key pair, for ts-mls. @internal */
  signatureKeyPair(): { signKey: Uint8Array; publicKey: Uint8Array } {
    return { signKey: this.#signaturePrivateKey, publicKey: this.signaturePublicKey };
  }

  /**
   * Makes `count` one-time KeyPackages (and a last-resort one when `lastResort`), keeps their
   * private keys in storage before returning them, and returns them as base64 KeyPackage
   * messages ready for `keys.publish`. @internal
   */
  async createKeyPackages(count: number, lastResort: boolean): Promise<{ oneTime: string[]; lastResort?: string }> {
    const cs = await cipherSuite();
    const made: Array<[string, StoredKeyPackage]> = [];
    for (let i = 0; i < count + (lastResort ? 1 : 0); i++) {
      const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
        credentialOf({ user: this.user, device: this.id }),
        defaultCapabilities(),
        defaultLifetime,
        [],
        this.signatureKeyPair(),
        cs,
      );
      const entry: StoredKeyPackage = {
        kp: toBase64(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: publicPackage })),
        init: toBase64(privatePackage.initPrivateKey),
        hpke: toBase64(privatePackage.hpkePrivateKey),
        at: Date.now(),
      };
      if (lastResort && i === count) entry.lastResort = true;
      made.push([toHex(await makeKeyPackageRef(publicPackage, cs.hash)), entry]);
    }
    await this.#update(KEY_PACKAGES_KEY, (all: Record<string, StoredKeyPackage>) => {
      if (lastResort) for (const [ref, e] of Object.entries(all)) if (e.lastResort === true) delete all[ref];
      for (const [ref, entry] of made) all[ref] = entry;
      return all;
    });
    const last = lastResort ? made[made.length - 1]?.[1].kp : undefined;
    const oneTime = made.slice(0, count).map(([, e]) => e.kp);
    return last === undefined ? { oneTime } : { oneTime, lastResort: last };
  }

  /** The first of `refs` (KeyPackage references, RFC 9420 §5.2) that is one of this device's KeyPackages. @internal */
  async findKeyPackage(refs: Uint8Array[]): Promise<OwnKeyPackage | undefined> {
    const all = await this.#read<Record<string, StoredKeyPackage>>(KEY_PACKAGES_KEY, {});
    for (const ref of refs.map(toHex)) {
      const entry = all[ref];
      if (entry === undefined) continue;
      const decoded = decodeMlsMessage(fromBase64(entry.kp), 0)?.[0];
      if (decoded?.wireformat !== 'mls_key_package') continue;
      return {
        ref,
        publicPackage: decoded.keyPackage,
        privatePackage: { initPrivateKey: fromBase64(entry.init), hpkePrivateKey: fromBase64(entry.hpke), signaturePrivateKey: this.#signaturePrivateKey },
        lastResort: entry.lastResort === true,
      };
    }
    return undefined;
  }

  /** Forgets a one-time KeyPackage's private keys once a Welcome used it. @internal */
  async forgetKeyPackage(ref: string): Promise<void> {
    await this.#update(KEY_PACKAGES_KEY, (all: Record<string, StoredKeyPackage>) => {
      if (all[ref]?.lastResort !== true) delete all[ref];
      return all;
    });
  }

  /** How many KeyPackages' private keys the device holds (one-time and last-resort). */
  async heldKeyPackages(): Promise<number> {
    return Object.keys(await this.#read<Record<string, StoredKeyPackage>>(KEY_PACKAGES_KEY, {})).length;
  }

  /** The stored text under `key`. @internal */
  async load(key: string): Promise<string | undefined> {
    await this.#writes;
    return (await this.storage.get(key)) ?? undefined;
  }

  /** Stores `value` under `key` (or removes it for `undefined`), after the writes before it. @internal */
  save(key: string, value: string | undefined): Promise<void> {
    return this.#enqueue(async () => {
      if (value === undefined) await this.storage.delete(key);
      else await this.storage.set(key, value);
    });
  }

  async #read<T>(key: string, empty: T): Promise<T> {
    const raw = await this.load(key);
    return raw === undefined ? empty : (JSON.parse(raw) as T);
  }

  #update<T extends object>(key: string, change: (value: T) => T): Promise<void> {
    return this.#enqueue(async () => {
      const raw = await this.storage.get(key);
      const value = raw === undefined || raw === null ? ({} as T) : (JSON.parse(raw) as T);
      await this.storage.set(key, JSON.stringify(change(value)));
    });
  }

  /** Runs storage writes one after another, so a read-modify-write never loses another's change. */
  #enqueue(write: () => Promise<void>): Promise<void> {
    const done = this.#writes.then(write);
    this.#writes = done.catch(() => undefined);
    return done;
  }
}
