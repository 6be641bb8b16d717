// The delivery-service side of docs/e2e.md on top of the fake server, for unit tests: the
// KeyPackage directory, `e2e:` rooms that take only MLS room messages, one Commit per epoch with
// `conflict` for the losers, and Welcomes held with their Commit, released to the recipients'
// connections and inboxes only when it is stored (the contract of /tmp/welcome-spec.md).
import { decodeMlsMessage } from 'ts-mls';
import { FakeServer, type FakeSocket } from './fake-server.js';

type Frame = Record<string, unknown>;

interface Recipient {
  user: string;
  device: string;
}

interface HeldSend {
  socket: FakeSocket;
  room: string;
  body: string;
  clientMsgId: string | undefined;
  welcome: { message: string; to: Recipient[] } | undefined;
  commit: { groupId: string; epoch: number } | undefined;
}

interface PendingWelcome {
  room: string;
  seq: number;
  from: string;
  welcome: string;
}

/** A fake Starling server with encrypted rooms. */
export class FakeE2eServer extends FakeServer {
  /** Per room: the epoch (Commits stored) and the group id of the first one. */
  readonly epochs = new Map<string, { epoch: number; groupId: string | undefined }>();
  /** `user/device` → one-time packages (oldest first) and the last-resort one. */
  readonly directory = new Map<string, { oneTime: string[]; lastResort: string | undefined }>();
  /** `user/device` → pending welcomes, oldest first. */
  readonly inboxes = new Map<string, PendingWelcome[]>();
  /** Every `welcome` frame posted: `room seq user/device`. */
  readonly welcomesPosted: string[] = [];
  /** Every `conflict` sent: `user clientMsgId epoch`. */
  readonly conflicts: string[] = [];
  /** While `true`, `e2e:` sends are accepted but wait in {@link held} until {@link release}. */
  holdSends = false;
  /** Sends held by {@link holdSends}, in arrival order. */
  readonly held: HeldSend[] = [];
  /** Users whose connections get room messages only at {@link flushDeferred} (other frames go at once). */
  readonly deferTo = new Set<string>();
  readonly #deferred: Array<{ socket: FakeSocket; frame: Frame }> = [];

  constructor() {
    super();
    this.hook = (socket, request) => this.#handle(socket, request);
  }

  /** Stores the held sends in order (each as the fanout would), or only the first `count`. */
  release(count = this.held.length): void {
    for (const send of this.held.splice(0, count)) this.#sequence(send);
  }

  /** Posts the room messages held back by {@link deferTo}, in order, and stops holding them. */
  flushDeferred(): void {
    this.deferTo.clear();
    for (const { socket, frame } of this.#deferred.splice(0)) socket.push(frame);
  }

  override broadcast(message: Parameters<FakeServer['broadcast']>[0]): void {
    for (const s of this.sockets) {
      if (!s.rooms.has(message.room)) continue;
      if (this.deferTo.has(s.user)) this.#deferred.push({ socket: s, frame: { type: 'message', ...message } });
      else s.push({ type: 'message', ...message });
    }
  }

  #handle(socket: FakeSocket, request: Frame): 'default' | 'handled' {
    const action = String(request.action);
    if (action.startsWith('keys.')) return this.#keys(socket, request), 'handled';
    if (action === 'welcomes' || action === 'welcomes.ack') return this.#welcomes(socket, request), 'handled';
    if (action === 'send' && typeof request.room === 'string' && request.room.startsWith('e2e:')) return this.#send(socket, request), 'handled';
    return 'default';
  }

  #keys(socket: FakeSocket, request: Frame): void {
    const device = String(request.device ?? '');
    const entry = (user: string, d: string): { oneTime: string[]; lastResort: string | undefined } => {
      const key = `${user}/${d}`;
      let e = this.directory.get(key);
      if (e === undefined) {
        e = { oneTime: [], lastResort: undefined };
        this.directory.set(key, e);
      }
      return e;
    };
    const reply = (d: string): void => {
      const e = entry(socket.user, d);
      socket.push({ type: 'keys', device: d, oneTime: e.oneTime.length, lastResort: e.lastResort !== undefined });
    };
    switch (request.action) {
      case 'keys.publish': {
        const packages = (request.keyPackages as string[] | undefined) ?? [];
        if (packages.length > 20) return socket.push({ type: 'error', code: 'too_large', message: 'at most 20', action: 'keys.publish' });
        if (packages.some((p) => !p.startsWith('AAEAB'))) return socket.push({ type: 'error', code: 'bad_request', message: 'not a KeyPackage', action: 'keys.publish' });
        const e = entry(socket.user, device);
        if (e.oneTime.length + packages.length > 100) return socket.push({ type: 'error', code: 'forbidden', message: 'at most 100', action: 'keys.publish' });
        e.oneTime.push(...packages);
        if (typeof request.lastResort === 'string') e.lastResort = request.lastResort;
        return reply(device);
      }
      case 'keys.count':
        return reply(device);
      case 'keys.remove':
        this.directory.delete(`${socket.user}/${device}`);
        return reply(device);
      case 'keys.claim': {
        const user = String(request.user);
        const keyPackages: Frame[] = [];
        for (const [key, e] of [...this.directory].sort(([a], [b]) => (a < b ? -1 : 1))) {
          if (!key.startsWith(`${user}/`)) continue;
          const d = key.slice(user.length + 1);
          const one = e.oneTime.shift();
          if (one !== undefined) keyPackages.push({ device: d, keyPackage: one });
          else if (e.lastResort !== undefined) keyPackages.push({ device: d, keyPackage: e.lastResort, lastResort: true });
        }
        return socket.push({ type: 'keyPackages', user, keyPackages });
      }
      default:
        return socket.push({ type: 'error', code: 'unknown_action', message: 'no', action: request.action });
    }
  }

  #welcomes(socket: FakeSocket, request: Frame): void {
    const device = String(request.device);
    const key = `${socket.user}/${device}`;
    const inbox = this.inboxes.get(key) ?? [];
    if (request.action === 'welcomes.ack') {
      this.inboxes.set(key, inbox.filter((w) => !(w.room === request.room && w.seq === request.seq)));
    }
    socket.push({ type: 'welcomes', device, welcomes: this.inboxes.get(key) ?? [] });
  }

  #send(socket: FakeSocket, request: Frame): void {
    const room = String(request.room);
    const clientMsgId = request.clientMsgId as string | undefined;
    const refuse = (code: string, message: string): void =>
      socket.push({ type: 'error', code, message, action: 'send', ...(clientMsgId === undefined ? {} : { clientMsgId }) });
    if (!socket.rooms.has(room)) return refuse('forbidden', `join ${room} first`);
    const body = String(request.body);
    const message = decodeMlsMessage(new Uint8Array(Buffer.from(body, 'base64')), 0)?.[0];
    let commit: HeldSend['commit'];
    if (message?.wireformat === 'mls_private_message') {
      const pm = message.privateMessage;
      if (pm.contentType === 'commit') commit = { groupId: Buffer.from(pm.groupId).toString('hex'), epoch: Number(pm.epoch) };
    } else if (message?.wireformat === 'mls_public_message') {
      const c = message.publicMessage.content;
      if (c.contentType === 'application') return refuse('bad_request', 'an application message must be a PrivateMessage');
      if (c.contentType === 'commit') commit = { groupId: Buffer.from(c.groupId).toString('hex'), epoch: Number(c.epoch) };
    } else {
      return refuse('bad_request', 'not an MLS room message');
    }
    const welcome = request.welcome as HeldSend['welcome'];
    if (welcome !== undefined && commit === undefined) return refuse('bad_request', 'welcome goes only with a Commit');
    if (welcome !== undefined && (!welcome.message.startsWith('AAEAAw') || welcome.to.length === 0 || welcome.to.length > 50)) return refuse('bad_request', 'bad welcome');
    socket.push({ type: 'accepted', room, id: `01K${String(Date.now()).padStart(23, '0')}`, ...(clientMsgId === undefined ? {} : { clientMsgId }) });
    const send: HeldSend = { socket, room, body, clientMsgId, welcome, commit };
    if (this.holdSends) this.held.push(send);
    else setImmediate(() => this.#sequence(send));
  }

  /** The fanout: one Commit per epoch, the Welcome released with its Commit. */
  #sequence(send: HeldSend): void {
    const { socket, room, body, clientMsgId, welcome, commit } = send;
    const stored = this.room(room);
    if (clientMsgId !== undefined && stored.dedup.has(`${socket.user}\u0000${clientMsgId}`)) return;
    const head = this.epochs.get(room) ?? { epoch: 0, groupId: undefined };
    if (commit !== undefined && (commit.epoch !== head.epoch || (head.groupId !== undefined && head.groupId !== commit.groupId))) {
      this.conflicts.push(`${socket.user} ${clientMsgId ?? ''} ${head.epoch}`);
      const frame = { type: 'error', code: 'conflict', message: `${room} is at epoch ${head.epoch}`, action: 'send', epoch: head.epoch, ...(clientMsgId === undefined ? {} : { clientMsgId }) };
      socket.push(frame);
      return;
    }
    const message = this.publish(room, socket.user, body, clientMsgId);
    if (commit === undefined) return;
    this.epochs.set(room, { epoch: head.epoch + 1, groupId: head.groupId ?? commit.groupId });
    for (const to of welcome?.to ?? []) {
      const pending: PendingWelcome = { room, seq: message.seq, from: socket.user, welcome: welcome?.message ?? '' };
      const key = `${to.user}/${to.device}`;
      this.inboxes.set(key, [...(this.inboxes.get(key) ?? []), pending]);
      for (const s of this.sockets) {
        if (s.user !== to.user || s.state !== 'open') continue;
        this.welcomesPosted.push(`${room} ${message.seq} ${key}`);
        s.push({ type: 'welcome', device: to.device, ...pending });
      }
    }
  }
}
