import { type ClientInternals, type StarlingClient, clientInternals } from '../client.js';
import { StarlingError } from '../errors.js';
import { Emitter, type Listener } from '../events.js';
import type { RoomId } from '../generated/protocol.js';
import { fromBase64 } from './bytes.js';
import type { E2eDevice } from './device.js';
import { E2eError } from './errors.js';
import { MlsGroup, decodeMessage } from './group.js';
import { KeyPackages, type ReplenishOptions } from './keys.js';
import { parseRecord, recordKey } from './record.js';
import { E2eRoom } from './room.js';
import type { RoomHost } from './state.js';
import type { E2eClientEvents, IncomingWelcome } from './types.js';

/** How an {@link E2eClient} behaves. */
export interface E2eClientOptions {
  /**
   * Join the group of every Welcome for this device as it arrives (`welcome` frames) and, after
   * each (re)connect, from the device's welcome inbox (`welcomes`). Default `true`; with
   * `false`, listen to `welcome` events and call {@link E2eClient.accept}.
   */
  acceptWelcomes?: boolean;
  /**
   * Keep KeyPackages published: {@link KeyPackages.replenish} after each (re)connect and after
   * each Welcome used, with these options. Default `{}` (below 10 left, publish up to 50);
   * `false` to manage them yourself through {@link E2eClient.keys}.
   */
  keyPackages?: ReplenishOptions | false;
}

/** The `welcomes` frame (the reply to `welcomes` and `welcomes.ack`). */
interface WelcomesFrame {
  type: 'welcomes';
  device: string;
  welcomes: Array<Omit<IncomingWelcome, 'device'>>;
  hasMore?: boolean;
}

/** An `e2e:` room id. */
const E2E_ROOM = /^e2e:[A-Za-z0-9_.:-]{1,60}$/;

/**
 * End-to-end encrypted rooms (MLS, RFC 9420) on a {@link StarlingClient}, as one device of the
 * client's user: opens {@link E2eRoom}s, joins groups from the Welcomes sent to this device,
 * and keeps its KeyPackages published.
 *
 * ```ts
 * const device = await E2eDevice.open(new LocalStorageDeviceStorage(`starling:e2e:${user}:`), user);
 * const e2e = new E2eClient(client, device);
 * const room = await e2e.room('e2e:team');
 * room.on('message', (m) => render(m.from, m.device, m.text));
 * if (!room.isMember) await room.create(['bob']); // or wait for a Welcome
 * await room.send('hello');
 * ```
 */
export class E2eClient {
  /** The client the rooms live on. */
  readonly client: StarlingClient;
  /** This device. */
  readonly device: E2eDevice;
  /** The device's KeyPackages in the server's directory. */
  readonly keys: KeyPackages;
  readonly #internals: ClientInternals;
  readonly #options: { acceptWelcomes: boolean; keyPackages: ReplenishOptions | false };
  readonly #events = new Emitter<E2eClientEvents>();
  readonly #rooms = new Map<RoomId, E2eRoom | Promise<E2eRoom>>();
  readonly #detach: Array<() => void> = [];
  #accepting: Promise<unknown> = Promise.resolve();
  #closed = false;

  /**
   * Starts end-to-end encryption for `device` on `client` (whose user must be the device's).
   * Nothing is sent until the client is connected.
   */
  constructor(client: StarlingClient, device: E2eDevice, options: E2eClientOptions = {}) {
    this.client = client;
    this.device = device;
    this.#internals = clientInternals(client);
    this.#options = { acceptWelcomes: options.acceptWelcomes ?? true, keyPackages: options.keyPackages ?? {} };
    this.keys = new KeyPackages(device, (request, matches) => this.#internals.request(request, matches));
    this.#detach.push(
      this.#internals.tap((frame) => this.#tap(frame)),
      client.on('message', (m) => this.#opened(m.room)?.offer(m)),
      client.on('state', ({ state }) => {
        if (state === 'connected') this.#connected();
      }),
    );
    if (client.state === 'connected') queueMicrotask(() => this.#connected());
  }

  /** Calls `listener` on every `event`; returns a function that removes it. */
  on<K extends keyof E2eClientEvents>(event: K, listener: Listener<E2eClientEvents, K>): () => void {
    return this.#events.on(event, listener);
  }

  /** Calls `listener` on the next `event` only. */
  once<K extends keyof E2eClientEvents>(event: K, listener: Listener<E2eClientEvents, K>): () => void {
    return this.#events.once(event, listener);
  }

  /** Removes `listener`. */
  off<K extends keyof E2eClientEvents>(event: K, listener: Listener<E2eClientEvents, K>): void {
    this.#events.off(event, listener);
  }

  /**
   * The encrypted room `room` (an `e2e:` room id): its group state is loaded from the device's
   * storage, and the room is joined on the client from the last seq the device processed.
   * Resolves once joined. Without a group yet, {@link E2eRoom.create} makes one, or a Welcome
   * from a member joins it.
   */
  async room(room: RoomId): Promise<E2eRoom> {
    const e2e = await this.#open(room);
    const joined = this.client.join(room, e2e.processed > 0 ? { since: e2e.processed } : {});
    e2e.resume();
    await joined;
    return e2e;
  }

  /**
   * Fetches the device's welcome inbox (`welcomes`): Welcomes kept for it while it was offline.
   * With `acceptWelcomes` (the default) each is joined and acknowledged; the rest are returned.
   */
  async welcomes(): Promise<IncomingWelcome[]> {
    const seen: IncomingWelcome[] = [];
    for (let page = 0; page < 100; page++) {
      const frame = (await this.#internals.request({ action: 'welcomes', device: this.device.id }, (f) => f.type === 'welcomes' && f.device === this.device.id)) as unknown as WelcomesFrame;
      const list = frame.welcomes.map((w) => ({ ...w, device: this.device.id }));
      seen.push(...list);
      if (!this.#options.acceptWelcomes || list.length === 0) break;
      for (const w of list) await this.accept(w).catch(() => undefined);
      if (frame.hasMore !== true) break;
    }
    return seen;
  }

  /**
   * Joins the group of a Welcome for this device: finds which of the device's KeyPackages it was
   * made for, joins, keeps the group state, joins the room from the Commit's seq, and
   * acknowledges the Welcome (`welcomes.ack`). Welcomes are used one at a time. A Welcome that
   * can never be used (for no KeyPackage of this device, or invalid) is acknowledged too, and
   * rejects with {@link E2eError} `welcome`.
   */
  accept(welcome: IncomingWelcome): Promise<E2eRoom> {
    const run = this.#accepting.then(() => this.#accept(welcome));
    this.#accepting = run.catch(() => undefined);
    return run;
  }

  /** Stops listening to the client (the rooms stop receiving messages). The client stays open. */
  close(): void {
    this.#closed = true;
    for (const detach of this.#detach.splice(0)) detach();
  }

  async #accept(w: IncomingWelcome): Promise<E2eRoom> {
    if (w.device !== this.device.id) throw new E2eError('welcome', `the Welcome is for device ${w.device}, not ${this.device.id}`, { room: w.room });
    if (!E2E_ROOM.test(w.room)) throw new E2eError('welcome', `${w.room} is not an encrypted room`, { room: w.room });
    const unusable = async (why: string, cause?: unknown): Promise<never> => {
      await this.#ack(w);
      throw new E2eError('welcome', `the Welcome for ${w.room} (seq ${w.seq}, from ${w.from}) ${why}`, { room: w.room, seq: w.seq, cause });
    };
    const room = await this.#open(w.room);
    if (room.isMember && room.processed >= w.seq) {
      // Used already (the same Welcome came live and from the inbox).
      await this.#ack(w);
      return room;
    }
    let message;
    try {
      message = decodeMessage(fromBase64(w.welcome));
    } catch (error) {
      return unusable('is not an MLS message', error);
    }
    if (message.wireformat !== 'mls_welcome') return unusable(`is a ${message.wireformat}, not a Welcome`);
    const own = await this.device.findKeyPackage(message.welcome.secrets.map((s) => s.newMember));
    if (own === undefined) return unusable('was made for none of this device\'s KeyPackages');
    let group: MlsGroup;
    try {
      group = await MlsGroup.join(message.welcome, own);
    } catch (error) {
      return unusable(`cannot be joined: ${String(error)}`, error);
    }
    const joined = await room.adopt(group, w.seq);
    await this.device.forgetKeyPackage(own.ref);
    const subscribed = this.client.join(w.room, { since: w.seq });
    room.resume();
    await subscribed;
    await this.#ack(w);
    if (joined) this.#events.emit('joined', { room: w.room, seq: w.seq, from: w.from, epoch: group.epoch });
    // RFC 9420 §16.8: a leaf from a last-resort KeyPackage is refreshed soon.
    if (joined && own.lastResort) room.update().catch((e: unknown) => this.#error(e));
    this.#replenish();
    return room;
  }

  async #ack(w: IncomingWelcome): Promise<void> {
    try {
      await this.#internals.request({ action: 'welcomes.ack', device: this.device.id, room: w.room, seq: w.seq }, (f) => f.type === 'welcomes' && f.device === this.device.id);
    } catch (error) {
      // A server without the welcome inbox has nothing to acknowledge.
      if (!(error instanceof StarlingError && error.code === 'unknown_action')) this.#error(error);
    }
  }

  async #open(room: RoomId): Promise<E2eRoom> {
    if (!E2E_ROOM.test(room)) throw new RangeError(`${room} is not an encrypted room: its id must start with e2e:`);
    const known = this.#rooms.get(room);
    if (known !== undefined) return known;
    const opening = (async () => {
      const record = parseRecord(await this.device.load(recordKey(room)));
      const e2e = new E2eRoom(room, this.#host, record);
      e2e.on('message', (m) => this.#events.emit('message', m));
      e2e.on('members', (c) => this.#events.emit('members', c));
      e2e.on('removed', (c) => this.#events.emit('removed', c));
      e2e.on('conflict', (c) => this.#events.emit('conflict', c));
      e2e.on('error', (e) => this.#error(e));
      this.#rooms.set(room, e2e);
      return e2e;
    })();
    this.#rooms.set(room, opening);
    opening.catch(() => this.#rooms.delete(room));
    return opening;
  }

  #opened(room: RoomId): E2eRoom | undefined {
    const known = this.#rooms.get(room);
    return known instanceof E2eRoom ? known : undefined;
  }

  /** A frame, before the client handles it: `welcome`s for this device, and `conflict`s of this device's Commits. */
  #tap(frame: Record<string, unknown>): boolean {
    if (frame.type === 'welcome') {
      if (frame.device !== this.device.id) return true;
      const w: IncomingWelcome = { room: String(frame.room), seq: Number(frame.seq), from: String(frame.from), device: String(frame.device), welcome: String(frame.welcome) };
      this.#events.emit('welcome', w);
      if (this.#options.acceptWelcomes) this.accept(w).catch((e: unknown) => this.#error(e));
      return true;
    }
    if (frame.type === 'error' && frame.code === 'conflict' && typeof frame.clientMsgId === 'string') {
      const id = frame.clientMsgId;
      for (const room of this.#rooms.values()) {
        if (room instanceof E2eRoom && room.owns(id)) {
          room.conflicted(id, typeof frame.epoch === 'number' ? frame.epoch : undefined);
          return true;
        }
      }
    }
    return false;
  }

  #connected(): void {
    if (this.#closed) return;
    if (this.client.user !== undefined && this.client.user !== this.device.user) {
      this.#error(new E2eError('device_mismatch', `the client is connected as ${this.client.user}, the device belongs to ${this.device.user}`));
      return;
    }
    if (this.#options.acceptWelcomes) {
      this.welcomes().catch((error: unknown) => {
        if (!(error instanceof StarlingError && (error.code === 'unknown_action' || error.code === 'closed'))) this.#error(error);
      });
    }
    this.#replenish();
  }

  #replenish(): void {
    const options = this.#options.keyPackages;
    if (options === false || this.#closed) return;
    this.keys.replenish(options).catch((error: unknown) => {
      if (!(error instanceof StarlingError && error.code === 'closed')) this.#error(error);
    });
  }

  #error(error: unknown): void {
    if (this.#events.listenerCount('error') > 0) this.#events.emit('error', error instanceof Error ? error : new Error(String(error)));
  }

  get #host(): RoomHost {
    return {
      device: this.device,
      keys: this.keys,
      send: (room, body, clientMsgId, welcome) => this.#internals.send(room, body, clientMsgId, welcome === undefined ? undefined : { welcome }),
      history: (room, before, limit) => this.client.history(room, { before, limit }),
      lastSeq: (room) => this.client.lastSeq(room),
    };
  }
}
