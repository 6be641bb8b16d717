// The one MLS configuration Starling's clients speak, and the credential identities they use.
import {
  type AuthenticationService,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type ClientConfig,
  type Credential,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from 'ts-mls';
import { fromUtf8, utf8 } from './bytes.js';

/** The ciphersuite of every Starling group: MLS ciphersuite 1 (RFC 9420 §17.1). */
export const CIPHERSUITE: CiphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

/** A device id: 1–64 of `A-Z a-z 0-9 _ . -` (docs/e2e.md). */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const USER_PATTERN = /^[A-Za-z0-9._@:+=|-]{1,128}$/;

/** A member of a group: a device of a user, as its credential names it. */
export interface DeviceRef {
  /** The user id. */
  user: string;
  /** The device id. */
  device: string;
}

let suite: Promise<CiphersuiteImpl> | undefined;

/** ts-mls's implementation of {@link CIPHERSUITE} (WebCrypto where it can), made once. */
export function cipherSuite(): Promise<CiphersuiteImpl> {
  suite ??= getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE));
  return suite;
}

/** The credential identity of a device: UTF-8 `{user}/{device}`. */
export function identityOf(ref: DeviceRef): string {
  return `${ref.user}/${ref.device}`;
}

/** The basic credential of a device. */
export function credentialOf(ref: DeviceRef): Credential {
  return { credentialType: 'basic', identity: utf8(identityOf(ref)) };
}

/** The device a credential names, or `undefined` when it is not a basic credential of the form `{user}/{device}`. */
export function deviceOf(credential: Credential): DeviceRef | undefined {
  if (credential.credentialType !== 'basic') return undefined;
  let text: string;
  try {
    text = fromUtf8(credential.identity);
  } catch {
    return undefined;
  }
  const slash = text.indexOf('/');
  const ref = { user: text.slice(0, slash), device: text.slice(slash + 1) };
  return slash > 0 && USER_PATTERN.test(ref.user) && DEVICE_ID_PATTERN.test(ref.device) ? ref : undefined;
}

/** Accepts only credentials that name a device the Starling way. */
const authService: AuthenticationService = {
  validateCredential: (credential) => Promise.resolve(deviceOf(credential) !== undefined),
};

/** The ts-mls client configuration of every group: ts-mls's defaults (4 past epochs kept) and {@link deviceOf} as the credential check. */
export const clientConfig: ClientConfig = {
  keyRetentionConfig: defaultKeyRetentionConfig,
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService,
};
