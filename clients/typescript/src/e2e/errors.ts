/**
 * Why an end-to-end encryption operation failed, beside the server's codes (which arrive as
 * {@link StarlingError}s):
 * - `not_member`: this device is not (or no longer) a member of the room's MLS group;
 * - `no_key_packages`: the user to add has no device with a valid KeyPackage;
 * - `invalid_key_package`: a claimed KeyPackage failed its checks (credential, ciphersuite, signature, lifetime);
 * - `group_exists`: the room already has a group, made by another device (ask a member to add you);
 * - `welcome`: a Welcome could not be used (not for a KeyPackage of this device, or invalid);
 * - `undecryptable`: a room message could not be decrypted or processed;
 * - `sender_mismatch`: a message's MLS sender is not the user the server says sent it;
 * - `gap`: messages of the room are missing (past retention), so its group may be out of step;
 * - `device_mismatch`: the device storage belongs to another user, or the client's user is not the device's;
 * - `too_large`: the encrypted message or Welcome is over the server's limit.
 */
export type E2eErrorCode =
  | 'not_member'
  | 'no_key_packages'
  | 'invalid_key_package'
  | 'group_exists'
  | 'welcome'
  | 'undecryptable'
  | 'sender_mismatch'
  | 'gap'
  | 'device_mismatch'
  | 'too_large';

/** An end-to-end encryption failure. Branch on `code`; `message` is for people. */
export class E2eError extends Error {
  /** What went wrong. */
  readonly code: E2eErrorCode;
  /** The room, when the failure is about one. */
  readonly room: string | undefined;
  /** The message's seq, for failures about one stored message. */
  readonly seq: number | undefined;

  constructor(code: E2eErrorCode, message: string, init: { room?: string; seq?: number; cause?: unknown } = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'E2eError';
    this.code = code;
    this.room = init.room;
    this.seq = init.seq;
  }
}
