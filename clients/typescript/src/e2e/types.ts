import type { RoomId, UserId } from '../generated/protocol.js';
import type { E2eError } from './errors.js';
import type { E2eMember } from './group.js';

/** A decrypted message of an encrypted room, handed over once and in seq order. */
export interface E2eMessage {
  /** The room. */
  room: RoomId;
  /** Its seq in the room. */
  seq: number;
  /** The server's message id. */
  id: string;
  /** The sender's user id (the server's, checked against the MLS credential). */
  from: UserId;
  /** The sender's device, from its MLS credential. */
  device: string;
  /** The plaintext. */
  text: string;
  /** When the server accepted it. */
  sentAt: string;
  /** The MLS epoch it was encrypted in. */
  epoch: number;
  /** The sender's `clientMsgId`, when it gave one. */
  clientMsgId?: string;
  /** Whether this device sent it. */
  own: boolean;
}

/** A stored Commit changed the group's members (or only its keys). */
export interface MembershipChange {
  /** The room. */
  room: RoomId;
  /** The Commit's seq. */
  seq: number;
  /** The epoch it moved the group to. */
  epoch: number;
  /** Who committed (the server's user id). */
  from: UserId;
  /** The committing member, when known. */
  by: E2eMember | undefined;
  /** Devices it added. */
  added: E2eMember[];
  /** Devices it removed. */
  removed: E2eMember[];
}

/** What {@link E2eRoom.create}, {@link E2eRoom.add}, {@link E2eRoom.remove} and {@link E2eRoom.update} resolve with, once the Commit is stored and applied. */
export interface CommitResult {
  /** The room. */
  room: RoomId;
  /** The Commit's seq; `undefined` when nothing was left to commit (the devices were already added or removed by someone else). */
  seq: number | undefined;
  /** The group's epoch after it. */
  epoch: number;
  /** Devices it added. */
  added: E2eMember[];
  /** Devices it removed. */
  removed: E2eMember[];
  /** How many times the Commit lost its epoch to another member's and was made again. */
  conflicts: number;
  /**
   * The Welcome sent with the Commit for the devices it added (base64 MLSMessage), for an app
   * that also delivers it another way ({@link E2eClient.accept} takes it).
   */
  welcome?: string;
}

/** A Commit of this device lost its epoch (`conflict`): it is made again after the winner. */
export interface ConflictEvent {
  /** The room. */
  room: RoomId;
  /** The lost Commit's `clientMsgId`. */
  clientMsgId: string;
  /** The epoch the lost Commit was made in. */
  epoch: number;
}

/** The events of an {@link E2eRoom}. */
export interface E2eRoomEvents {
  /** A decrypted message (this device's own included, with `own: true`). */
  message: E2eMessage;
  /** A Commit was applied: members added or removed, or keys updated. */
  members: MembershipChange;
  /** This device was removed from the group: it can no longer read or send. */
  removed: MembershipChange;
  /** A Commit of this device lost its epoch and will be made again. */
  conflict: ConflictEvent;
  /** A message that could not be processed, a sender mismatch, a gap: the room goes on. */
  error: E2eError;
}

/** A Welcome for one of the user's devices, from a `welcome` frame or the `welcomes` inbox. */
export interface IncomingWelcome {
  /** The encrypted room whose group it joins. */
  room: RoomId;
  /** The seq of the Commit that added the device: the room is read from after it. */
  seq: number;
  /** Who committed. */
  from: UserId;
  /** The device it is for. */
  device: string;
  /** The Welcome message, base64. */
  welcome: string;
}

/** This device joined a group from a Welcome. */
export interface JoinedEvent {
  /** The room. */
  room: RoomId;
  /** The seq of the Commit that added it. */
  seq: number;
  /** Who added it. */
  from: UserId;
  /** The group's epoch. */
  epoch: number;
}

/**
 * The events of an {@link E2eClient}: its own, and those of every {@link E2eRoom} it opened
 * (rooms joined from a Welcome included, whose first messages may come before the app has the
 * room object).
 */
export interface E2eClientEvents {
  /** A Welcome for this device arrived (it is joined at once unless `acceptWelcomes` is `false`). */
  welcome: IncomingWelcome;
  /** This device joined a group from a Welcome. */
  joined: JoinedEvent;
  /** A decrypted message of any encrypted room. */
  message: E2eMessage;
  /** A Commit was applied in a room. */
  members: MembershipChange;
  /** This device was removed from a room's group. */
  removed: MembershipChange;
  /** A Commit of this device lost its epoch and will be made again. */
  conflict: ConflictEvent;
  /** A failure not tied to a promise: a room's (see {@link E2eRoomEvents}), an unusable Welcome, a failed KeyPackage replenish. */
  error: Error;
}
