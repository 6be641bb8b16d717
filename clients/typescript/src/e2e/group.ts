// One MLS group as ts-mls keeps it, with what Starling needs on top: who sent what, member
// lists, and commits prepared without being applied (ts-mls has no pending-commit API).
import {
  type ClientState,
  type KeyPackage,
  type MLSMessage,
  type PrivateMessage,
  type Proposal,
  type Welcome,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  joinGroup,
  processMessage,
  zeroOutUint8Array,
} from 'ts-mls';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import type { RatchetTree } from 'ts-mls/ratchetTree.js';
import { fromUtf8, randomBytes, toHex, utf8 } from './bytes.js';
import type { E2eDevice, OwnKeyPackage } from './device.js';
import { type DeviceRef, cipherSuite, clientConfig, credentialOf, deviceOf, identityOf } from './suite.js';

/** A member of an encrypted room's group: one device, as its leaf names it. */
export interface E2eMember extends DeviceRef {
  /** The credential identity, `{user}/{device}`. */
  identity: string;
  /** The device's signature public key, from which its safety number is made. */
  signaturePublicKey: Uint8Array;
  /** Its leaf index in the ratchet tree. */
  leaf: number;
}

/** What processing one MLS message did. @internal */
export type Processed =
  | { kind: 'application'; text: string; sender: E2eMember; epoch: number }
  | { kind: 'commit'; committer: E2eMember | undefined; added: E2eMember[]; removed: E2eMember[]; epoch: number; removedSelf: boolean }
  | { kind: 'proposal'; epoch: number };

/** A commit made but not applied: applied only when the server has stored it. @internal */
export interface PreparedCommit {
  /** The Commit message (MLSMessage bytes). */
  commit: Uint8Array;
  /** The Welcome message for the devices it adds (MLSMessage bytes), if it adds any. */
  welcome: Uint8Array | undefined;
  /** The epoch it was made in; it can be stored only while the room is in this epoch. */
  epoch: number;
  /** The group's state once applied. */
  state: ClientState;
  /** Secrets the old state no longer needs once this commit is applied. */
  consumed: Uint8Array[];
}

/** The MLS message in `bytes`, which must be exactly one. @internal */
export function decodeMessage(bytes: Uint8Array): MLSMessage {
  const decoded = decodeMlsMessage(bytes, 0);
  if (decoded === undefined || decoded[1] !== bytes.length) throw new Error('not one MLS message');
  return decoded[0];
}

/** The MLSMessage bytes of a Welcome. @internal */
export function encodeWelcome(welcome: Welcome): Uint8Array {
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome });
}

/** The MLSMessage bytes of a KeyPackage. @internal */
export function encodeKeyPackage(keyPackage: KeyPackage): Uint8Array {
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage });
}

/** The epoch and content type a room message shows in the clear. @internal */
export function framing(message: MLSMessage): { groupId: Uint8Array; epoch: number; contentType: string } | undefined {
  if (message.wireformat === 'mls_private_message') {
    const pm = message.privateMessage;
    return { groupId: pm.groupId, epoch: Number(pm.epoch), contentType: pm.contentType };
  }
  if (message.wireformat === 'mls_public_message') {
    const c = message.publicMessage.content;
    return { groupId: c.groupId, epoch: Number(c.epoch), contentType: c.contentType };
  }
  return undefined;
}

/**
 * A device's state in one MLS group. Incoming messages and own application messages change it;
 * a commit is only prepared ({@link prepareCommit}) and applied with {@link adopt} once the
 * server has stored it. While one is prepared, the secrets the old state consumes are not
 * zeroed, because the prepared state may share them. @internal
 */
export class MlsGroup {
  #state: ClientState;
  /** While a commit waits, consumed secrets are not zeroed (the prepared state may share them). */
  holdSecrets = false;

  private constructor(state: ClientState) {
    this.#state = state;
  }

  /** A new group of one (this device), at epoch 0, with a random 32-byte group id. */
  static async create(device: E2eDevice): Promise<MlsGroup> {
    const cs = await cipherSuite();
    const own = await generateKeyPackageWithKey(credentialOf({ user: device.user, device: device.id }), defaultCapabilities(), defaultLifetime, [], device.signatureKeyPair(), cs);
    return new MlsGroup(await createGroup(randomBytes(32), own.publicPackage, own.privatePackage, [], cs, clientConfig));
  }

  /** Joins from a Welcome made for `own` (the ratchet tree comes in the Welcome's extension). */
  static async join(welcome: Welcome, own: OwnKeyPackage): Promise<MlsGroup> {
    const cs = await cipherSuite();
    return new MlsGroup(await joinGroup(welcome, own.publicPackage, own.privatePackage, emptyPskIndex, cs, undefined, undefined, clientConfig));
  }

  /** A group saved with {@link encode}. */
  static decode(bytes: Uint8Array): MlsGroup {
    return new MlsGroup(decodeState(bytes));
  }

  /** The state's bytes (ts-mls's encoding, secrets included). */
  encode(): Uint8Array {
    return encodeGroupState(this.#state);
  }

  /** The current epoch. */
  get epoch(): number {
    return Number(this.#state.groupContext.epoch);
  }

  /** The group id. */
  get groupId(): Uint8Array {
    return this.#state.groupContext.groupId;
  }

  /** Whether this device is still a member (a commit may have removed it). */
  get active(): boolean {
    return this.#state.groupActiveState.kind === 'active';
  }

  /** The members, in leaf order. */
  members(): E2eMember[] {
    return membersOf(this.#state.ratchetTree);
  }

  /** The member whose credential is `identity`. */
  member(identity: string): E2eMember | undefined {
    return this.members().find((m) => m.identity === identity);
  }

  /** Encrypts `text` as an application message (a PrivateMessage); returns the MLSMessage bytes. */
  async encrypt(text: string): Promise<Uint8Array> {
    const cs = await cipherSuite();
    const out = await createApplicationMessage(this.#state, utf8(text), cs);
    this.#state = out.newState;
    this.#consumed(out.consumed);
    return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: out.privateMessage });
  }

  /**
   * A Commit that adds `add` and removes the members at the `remove` leaves (or, with neither,
   * updates this device's own path), with a Welcome carrying the ratchet tree for the added
   * devices. The group's state does not change: {@link adopt} the result once it is stored.
   */
  async prepareCommit(add: KeyPackage[], remove: number[]): Promise<PreparedCommit> {
    const cs = await cipherSuite();
    const proposals: Proposal[] = [
      ...remove.map((removed): Proposal => ({ proposalType: 'remove', remove: { removed } })),
      ...add.map((keyPackage): Proposal => ({ proposalType: 'add', add: { keyPackage } })),
    ];
    const out = await createCommit({ state: this.#state, cipherSuite: cs }, { extraProposals: proposals, ratchetTreeExtension: true, wireAsPublicMessage: false });
    return {
      commit: encodeMlsMessage(out.commit),
      welcome: out.welcome === undefined ? undefined : encodeWelcome(out.welcome),
      epoch: this.epoch,
      state: out.newState,
      consumed: out.consumed,
    };
  }

  /** Applies a prepared commit (the server stored it): the group moves to its epoch. */
  adopt(prepared: PreparedCommit): void {
    this.#state = prepared.state;
    for (const secret of prepared.consumed) zeroOutUint8Array(secret);
  }

  /** The members a prepared commit would add and remove. */
  static diff(before: E2eMember[], after: E2eMember[]): { added: E2eMember[]; removed: E2eMember[] } {
    const key = (m: E2eMember): string => `${m.identity}\u0000${toHex(m.signaturePublicKey)}`;
    const had = new Set(before.map(key));
    const has = new Set(after.map(key));
    return { added: after.filter((m) => !had.has(key(m))), removed: before.filter((m) => !has.has(key(m))) };
  }

  /** The bytes of a prepared commit's state. */
  static encodeState(state: ClientState): Uint8Array {
    return encodeGroupState(state);
  }

  /** Members of a prepared commit's state. */
  static membersOf(state: ClientState): E2eMember[] {
    return membersOf(state.ratchetTree);
  }

  /** Processes one room message of the group (not this device's own). Throws when it cannot. */
  async process(message: MLSMessage): Promise<Processed> {
    if (message.wireformat === 'mls_private_message' && message.privateMessage.contentType === 'application') {
      return this.#openApplication(message.privateMessage);
    }
    if (message.wireformat !== 'mls_private_message' && message.wireformat !== 'mls_public_message') {
      throw new Error(`a ${message.wireformat} is not a room message`);
    }
    const cs = await cipherSuite();
    const before = this.members();
    let committer: number | undefined;
    const out = await processMessage(message, this.#state, emptyPskIndex, (incoming) => {
      if (incoming.kind === 'commit') committer = incoming.senderLeafIndex;
      return 'accept';
    }, cs);
    const epoch = this.epoch;
    this.#state = out.newState;
    this.#consumed(out.consumed);
    if (out.kind === 'applicationMessage') return { kind: 'proposal', epoch };
    if (this.epoch === epoch && this.active) return { kind: 'proposal', epoch };
    const { added, removed } = MlsGroup.diff(before, this.members());
    const by = committer === undefined ? undefined : before.find((m) => m.leaf === committer);
    return { kind: 'commit', committer: by, added, removed, epoch: this.epoch, removedSelf: !this.active };
  }

  /** An application message, current or from one of the past epochs ts-mls keeps (4), with its sender. */
  async #openApplication(pm: PrivateMessage): Promise<Processed> {
    const cs = await cipherSuite();
    const s = this.#state;
    const config = s.clientConfig.keyRetentionConfig;
    let tree: RatchetTree;
    let next: ClientState;
    let opened: Awaited<ReturnType<typeof unprotectPrivateMessage>>;
    if (pm.epoch === s.groupContext.epoch) {
      opened = await unprotectPrivateMessage(s.keySchedule.senderDataSecret, pm, s.secretTree, s.ratchetTree, s.groupContext, config, cs);
      tree = s.ratchetTree;
      next = { ...s, secretTree: opened.tree };
    } else {
      const past = pm.epoch < s.groupContext.epoch ? s.historicalReceiverData.get(pm.epoch) : undefined;
      if (past === undefined) throw new Error(`no keys for epoch ${pm.epoch} (the group is at ${s.groupContext.epoch})`);
      opened = await unprotectPrivateMessage(past.senderDataSecret, pm, past.secretTree, past.ratchetTree, past.groupContext, config, cs);
      tree = past.ratchetTree;
      next = { ...s, historicalReceiverData: new Map(s.historicalReceiverData).set(pm.epoch, { ...past, secretTree: opened.tree }) };
    }
    const content = opened.content.content;
    if (content.contentType !== 'application' || content.sender.senderType !== 'member') throw new Error('not an application message of a member');
    const leaf = content.sender.leafIndex;
    const sender = membersOf(tree).find((m) => m.leaf === leaf);
    if (sender === undefined) throw new Error('the sender has no leaf');
    this.#state = next;
    this.#consumed(opened.consumed);
    return { kind: 'application', text: fromUtf8(content.applicationData), sender, epoch: Number(pm.epoch) };
  }

  #consumed(secrets: Uint8Array[]): void {
    if (!this.holdSecrets) for (const secret of secrets) zeroOutUint8Array(secret);
  }
}

/** A state saved with `encodeGroupState`, with Starling's client configuration. @internal */
export function decodeState(bytes: Uint8Array): ClientState {
  const decoded = decodeGroupState(bytes, 0);
  if (decoded === undefined) throw new Error('not a saved group state');
  return { ...decoded[0], clientConfig };
}

function membersOf(tree: RatchetTree): E2eMember[] {
  const out: E2eMember[] = [];
  tree.forEach((node, index) => {
    if (node?.nodeType !== 'leaf') return;
    const ref = deviceOf(node.leaf.credential);
    if (ref === undefined) return;
    out.push({ ...ref, identity: identityOf(ref), signaturePublicKey: node.leaf.signaturePublicKey, leaf: index / 2 });
  });
  return out;
}
