import type { ClaimedKeyPackage, KeyPackagesFrame, KeysFrame, UserId } from '../generated/protocol.js';
import { type KeyPackage, decodeMlsMessage } from 'ts-mls';
import { verifyKeyPackage } from 'ts-mls/keyPackage.js';
import { fromBase64 } from './bytes.js';
import type { E2eDevice } from './device.js';
import { E2eError } from './errors.js';
import { CIPHERSUITE, type DeviceRef, cipherSuite, deviceOf } from './suite.js';

/** Sends a request and waits for the reply `matches` accepts (the client's request path). @internal */
export type Requester = (request: { action: string } & Record<string, unknown>, matches: (frame: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;

/** What the server holds for this device (the `keys` frame). */
export interface KeyPackageStatus {
  /** The device. */
  device: string;
  /** One-time KeyPackages left on the server, 0–100. */
  oneTime: number;
  /** Whether the device has a last-resort KeyPackage there. */
  lastResort: boolean;
}

/** When {@link KeyPackages.replenish} publishes, and how many. */
export interface ReplenishOptions {
  /** Publish when fewer one-time packages than this are left. Default 10. */
  threshold?: number;
  /** Publish up to this many one-time packages (at most 100, the server's limit per device). Default 50. */
  target?: number;
}

/** A claimed KeyPackage that passed every check, ready to add. */
export interface VerifiedKeyPackage extends DeviceRef {
  /** The decoded KeyPackage. */
  keyPackage: KeyPackage;
  /** Whether it is the device's last-resort package (the group should update that member's leaf soon). */
  lastResort: boolean;
}

/** A claimed KeyPackage that failed a check. */
export interface RejectedKeyPackage {
  /** The device it was claimed for. */
  device: string;
  /** Why it was refused (`invalid_key_package`). */
  error: E2eError;
}

/** The result of {@link KeyPackages.claim}. */
export interface ClaimResult {
  /** One package per device that passed the checks, in ascending device order. */
  valid: VerifiedKeyPackage[];
  /** The devices whose package failed a check, with why. */
  rejected: RejectedKeyPackage[];
}

/** What {@link KeyPackages.replenish} did. */
export interface ReplenishResult extends KeyPackageStatus {
  /** How many one-time KeyPackages it published (0 when enough were left). */
  published: number;
}

/** The server takes at most this many one-time KeyPackages per `keys.publish`. */
export const MAX_PER_PUBLISH = 20;
/** A device holds at most this many one-time KeyPackages on the server. */
export const MAX_ONE_TIME = 100;

/**
 * The device's KeyPackages in the server's directory (protocol.md, "Key packages"): publish,
 * count, replenish, and claim other users' packages, checked before use.
 */
export class KeyPackages {
  readonly #device: E2eDevice;
  readonly #request: Requester;
  #replenishing: Promise<ReplenishResult> | undefined;

  /** @internal */
  constructor(device: E2eDevice, request: Requester) {
    this.#device = device;
    this.#request = request;
  }

  /**
   * Makes and publishes `count` one-time KeyPackages (in requests of 20) and, with
   * `lastResort`, a new last-resort one (replacing the device's). Their private keys are stored
   * first, so a Welcome made from any of them can be used after a restart. Resolves with what
   * the server then holds; rejects with the server's `forbidden` past 100 one-time packages.
   */
  async publish(count: number, options: { lastResort?: boolean } = {}): Promise<KeyPackageStatus> {
    if (!Number.isInteger(count) || count < 0 || count > MAX_ONE_TIME) throw new RangeError('count is 0–100');
    const lastResort = options.lastResort === true;
    if (count === 0 && !lastResort) return this.count();
    const made = await this.#device.createKeyPackages(count, lastResort);
    let status: KeyPackageStatus | undefined;
    for (let i = 0; i < Math.max(made.oneTime.length, 1); i += MAX_PER_PUBLISH) {
      const request: { action: string } & Record<string, unknown> = { action: 'keys.publish', device: this.#device.id };
      const chunk = made.oneTime.slice(i, i + MAX_PER_PUBLISH);
      if (chunk.length > 0) request.keyPackages = chunk;
      if (i === 0 && made.lastResort !== undefined) request.lastResort = made.lastResort;
      status = await this.#keys(request);
    }
    return status ?? this.count();
  }

  /** What the server holds for this device. */
  count(): Promise<KeyPackageStatus> {
    return this.#keys({ action: 'keys.count', device: this.#device.id });
  }

  /**
   * Publishes one-time KeyPackages up to `target` when fewer than `threshold` are left, and a
   * last-resort one when the device has none. One at a time: concurrent calls share the run.
   * Resolves with what the server holds and how many one-time packages were published.
   */
  replenish(options: ReplenishOptions = {}): Promise<ReplenishResult> {
    this.#replenishing ??= this.#replenish(options).finally(() => {
      this.#replenishing = undefined;
    });
    return this.#replenishing;
  }

  /** Retires this device in the directory: the server forgets it and its packages. */
  remove(): Promise<KeyPackageStatus> {
    return this.#keys({ action: 'keys.remove', device: this.#device.id });
  }

  /**
   * Claims one KeyPackage per device of `user` (consuming one-time ones) and checks each: a
   * KeyPackage message of ciphersuite 1 whose basic credential names exactly `{user}/{device}` as
   * claimed, with a valid signature and a lifetime that includes now. This device itself is
   * left out.
   */
  async claim(user: UserId): Promise<ClaimResult> {
    const frame = (await this.#request({ action: 'keys.claim', user }, (f) => f.type === 'keyPackages' && f.user === user)) as unknown as KeyPackagesFrame;
    const result: ClaimResult = { valid: [], rejected: [] };
    for (const claimed of frame.keyPackages) {
      if (user === this.#device.user && claimed.device === this.#device.id) continue;
      try {
        result.valid.push(await checkClaimed(user, claimed));
      } catch (error) {
        const e = error instanceof E2eError ? error : new E2eError('invalid_key_package', `${user}/${claimed.device}: ${String(error)}`, { cause: error });
        result.rejected.push({ device: claimed.device, error: e });
      }
    }
    return result;
  }

  async #replenish(options: ReplenishOptions): Promise<ReplenishResult> {
    const threshold = options.threshold ?? 10;
    const target = Math.min(options.target ?? 50, MAX_ONE_TIME);
    const status = await this.count();
    const want = status.oneTime < threshold ? Math.max(0, target - status.oneTime) : 0;
    if (want === 0 && status.lastResort) return { ...status, published: 0 };
    return { ...(await this.publish(want, { lastResort: !status.lastResort })), published: want };
  }

  async #keys(request: { action: string } & Record<string, unknown>): Promise<KeyPackageStatus> {
    const frame = (await this.#request(request, (f) => f.type === 'keys' && f.device === this.#device.id)) as unknown as KeysFrame;
    return { device: frame.device, oneTime: frame.oneTime, lastResort: frame.lastResort };
  }
}

/** Checks one claimed KeyPackage (see {@link KeyPackages.claim}); throws {@link E2eError} `invalid_key_package`. @internal */
export async function checkClaimed(user: UserId, claimed: ClaimedKeyPackage): Promise<VerifiedKeyPackage> {
  const name = `${user}/${claimed.device}`;
  const fail = (why: string): never => {
    throw new E2eError('invalid_key_package', `the KeyPackage of ${name} ${why}`);
  };
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(claimed.keyPackage);
  } catch {
    return fail('is not base64');
  }
  const decoded = decodeMlsMessage(bytes, 0);
  if (decoded === undefined || decoded[1] !== bytes.length) return fail('is not one MLS message');
  const message = decoded[0];
  if (message.version !== 'mls10' || message.wireformat !== 'mls_key_package') return fail('is not an MLS 1.0 KeyPackage');
  const kp = message.keyPackage;
  if (kp.cipherSuite !== CIPHERSUITE) fail(`is for ciphersuite ${kp.cipherSuite}, not ${CIPHERSUITE}`);
  const owner = deviceOf(kp.leafNode.credential);
  if (owner === undefined || owner.user !== user || owner.device !== claimed.device) fail('has a credential that does not name it');
  const cs = await cipherSuite();
  if (!(await verifyKeyPackage(kp, cs.signature))) fail('has an invalid signature');
  const now = BigInt(Math.floor(Date.now() / 1000));
  const life = kp.leafNode.leafNodeSource === 'key_package' ? kp.leafNode.lifetime : undefined;
  if (life === undefined || life.notBefore > now || life.notAfter < now) fail('is not valid now (lifetime)');
  return { user, device: claimed.device, keyPackage: kp, lastResort: claimed.lastResort === true };
}
