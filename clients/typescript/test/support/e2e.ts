// A device of a user with an E2eClient on a fake or real server, recording what it saw.
import {
  type ClientOptions,
  type DeviceStorage,
  E2eClient,
  type E2eClientOptions,
  E2eDevice,
  type E2eMessage,
  type E2eRoom,
  type MembershipChange,
  MemoryDeviceStorage,
  type Message,
  type StarlingClient,
  connect,
} from '../../dist/index.js';
import { mintToken } from './jwt.js';

/** One device: its client, its E2eClient and everything they reported. */
export interface Member {
  user: string;
  storage: DeviceStorage;
  client: StarlingClient;
  device: E2eDevice;
  e2e: E2eClient;
  /** Decrypted messages of every room, in the order they were handed over. */
  messages: E2eMessage[];
  /** Raw (ciphertext) `message` events of the client. */
  raw: Message[];
  changes: MembershipChange[];
  errors: Error[];
  /** The texts of `room`, in order. */
  texts(room: string): string[];
  /** The seqs of the decrypted messages of `room`, in order. */
  seqs(room: string): number[];
  /** The open E2eRoom (it must be open). */
  room(room: string): Promise<E2eRoom>;
  close(): void;
}

/** Options of {@link member}. */
export interface MemberOptions {
  storage?: DeviceStorage;
  device?: string;
  client?: ClientOptions;
  e2e?: E2eClientOptions;
}

/** Connects a device of `user` to `url` (a fake server's through `client.WebSocket`, or a devstack's). */
export async function member(url: string, user: string, options: MemberOptions = {}): Promise<Member> {
  const storage = options.storage ?? new MemoryDeviceStorage();
  const device = await E2eDevice.open(storage, user, options.device === undefined ? {} : { device: options.device });
  const client = connect(url, () => mintToken(user), { backoff: { initialDelayMs: 5, maxDelayMs: 50 }, requestTimeoutMs: 10_000, ...options.client });
  const e2e = new E2eClient(client, device, { keyPackages: false, ...options.e2e });
  const messages: E2eMessage[] = [];
  const raw: Message[] = [];
  const changes: MembershipChange[] = [];
  const errors: Error[] = [];
  e2e.on('message', (m) => messages.push(m));
  e2e.on('members', (c) => changes.push(c));
  e2e.on('error', (e) => errors.push(e));
  client.on('message', (m) => raw.push(m));
  return {
    user,
    storage,
    client,
    device,
    e2e,
    messages,
    raw,
    changes,
    errors,
    texts: (room) => messages.filter((m) => m.room === room).map((m) => m.text),
    seqs: (room) => messages.filter((m) => m.room === room).map((m) => m.seq),
    room: (room) => e2e.room(room),
    close: () => {
      e2e.close();
      client.close();
    },
  };
}
