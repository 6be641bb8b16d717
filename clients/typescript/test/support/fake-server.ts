// An in-process stand-in for a Starling server behind fake WebSockets, for unit tests: it
// answers the v1 requests the way protocol.md says, and lets a test drop, refuse, delay or
// reorder frames to attack the SDK's guarantees.
import type { StoredMessage, WebSocketConstructor, WebSocketEventMapLike, WebSocketLike } from '../../dist/index.js';

type Frame = Record<string, unknown>;
type Listener = (event: never) => void;

/** One fake WebSocket: the client end; the test drives the server end through {@link FakeServer}. */
export class FakeSocket implements WebSocketLike {
  readonly url: string;
  readonly token: string;
  readonly user: string;
  /** Every request the client sent, parsed. */
  readonly sent: Frame[] = [];
  /** Rooms this connection is subscribed to. */
  readonly rooms = new Set<string>();
  state: 'connecting' | 'open' | 'closed' = 'connecting';
  closedBy: 'client' | 'server' | undefined;
  closeCode: number | undefined;
  readonly #listeners = new Map<string, Listener[]>();
  readonly #server: FakeServer;

  constructor(url: string, server: FakeServer) {
    this.url = url;
    this.token = new URL(url).searchParams.get('token') ?? '';
    this.user = subOf(this.token);
    this.#server = server;
  }

  addEventListener<K extends keyof WebSocketEventMapLike>(type: K, listener: (event: WebSocketEventMapLike[K]) => void): void {
    const list = this.#listeners.get(type) ?? [];
    list.push(listener as Listener);
    this.#listeners.set(type, list);
  }

  send(data: string): void {
    if (this.state !== 'open') throw new Error('send on a socket that is not open');
    const frame = JSON.parse(data) as Frame;
    this.sent.push(frame);
    // Like the network, the server sees the frame after the current task.
    setImmediate(() => this.#server.receive(this, frame));
  }

  close(code?: number): void {
    if (this.state === 'closed') return;
    this.closedBy = 'client';
    this.#shut(code ?? 1000, '');
  }

  /** The server's end: the handshake completes. */
  accept(): void {
    this.state = 'open';
    this.#emit('open', {});
  }

  /** The server's end: posts one frame (as JSON text) to the client. */
  push(frame: Frame | string): void {
    if (this.state !== 'open') return;
    const data = typeof frame === 'string' ? frame : JSON.stringify(frame);
    this.#emit('message', { data });
  }

  /** The server's end: the connection is lost or closed with `code` (1006: no close frame). */
  drop(code = 1006, reason = ''): void {
    if (this.state === 'closed') return;
    this.closedBy = 'server';
    this.#shut(code, reason);
  }

  /**
   * The server's end: the handshake fails with an `error` event and no `close`, as Node 20's
   * WebSocket reports a refused handshake. Closing it then fires `error` again at once.
   */
  failWithoutClose(): void {
    this.state = 'closed';
    this.closedBy = 'server';
    this.#server.closed(this);
    this.close = () => this.#emit('error', {});
    this.#emit('error', {});
  }

  /** Requests of `action` the client sent on this socket. */
  requests(action: string): Frame[] {
    return this.sent.filter((f) => f.action === action);
  }

  #shut(code: number, reason: string): void {
    this.state = 'closed';
    this.closeCode = code;
    this.#server.closed(this);
    setImmediate(() => this.#emit('close', { code, reason }));
  }

  #emit(type: string, event: unknown): void {
    for (const l of this.#listeners.get(type) ?? []) (l as (e: unknown) => void)(event);
  }
}

/** A room on the fake server. */
interface Room {
  messages: StoredMessage[];
  /** Seqs below this are past retention. */
  retainedFrom: number;
  dedup: Map<string, StoredMessage>;
}

/** What a hook may do with a request instead of the default answer. */
export type Hook = (socket: FakeSocket, request: Frame) => 'default' | 'handled';

/** The fake Starling server. */
export class FakeServer {
  readonly sockets: FakeSocket[] = [];
  readonly rooms = new Map<string, Room>();
  /** Decides whether a handshake is accepted (default: every one, at once). */
  admit: (socket: FakeSocket) => 'accept' | 'refuse' | 'error-only' | 'hold' = () => 'accept';
  /** Runs before the default answer of every request. */
  hook: Hook = () => 'default';
  /** Messages per `syncPage`. */
  pageSize = 3;
  /** What happened, in order: `open 2`, `join 2 lobby`, `close 1`, … (sockets numbered from 1). */
  readonly log: string[] = [];
  #nextId = 0;
  readonly #waiters: Array<(s: FakeSocket) => void> = [];

  /** The constructor to pass as `options.WebSocket`. */
  get WebSocket(): WebSocketConstructor {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const server = this;
    return class extends FakeSocket {
      constructor(url: string) {
        super(url, server);
        server.#opened(this);
      }
    };
  }

  /** The socket opened most recently. */
  get last(): FakeSocket {
    const s = this.sockets[this.sockets.length - 1];
    if (s === undefined) throw new Error('no socket yet');
    return s;
  }

  /** Open (not closed) sockets. */
  get open(): FakeSocket[] {
    return this.sockets.filter((s) => s.state === 'open');
  }

  /** Resolves with the next socket the client opens (or the `n`th overall, when given). */
  nextSocket(n?: number): Promise<FakeSocket> {
    const have = n === undefined ? undefined : this.sockets[n - 1];
    if (have !== undefined) return Promise.resolve(have);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  room(name: string): Room {
    let room = this.rooms.get(name);
    if (room === undefined) {
      room = { messages: [], retainedFrom: 1, dedup: new Map() };
      this.rooms.set(name, room);
    }
    return room;
  }

  /** Stores a message as the fanout would and returns it, without posting it anywhere. */
  store(roomName: string, from: string, body: string, clientMsgId?: string): StoredMessage {
    const room = this.room(roomName);
    if (clientMsgId !== undefined) {
      const seen = room.dedup.get(`${from}\u0000${clientMsgId}`);
      if (seen !== undefined) return seen;
    }
    const message: StoredMessage = {
      room: roomName,
      seq: room.messages.length + 1,
      id: `01J${String(this.#nextId++).padStart(23, '0')}`,
      from,
      body,
      sentAt: new Date().toISOString(),
      ...(clientMsgId === undefined ? {} : { clientMsgId }),
    };
    room.messages.push(message);
    if (clientMsgId !== undefined) room.dedup.set(`${from}\u0000${clientMsgId}`, message);
    return message;
  }

  /** Stores a message and posts it live to every subscriber. Returns it. */
  publish(roomName: string, from: string, body: string, clientMsgId?: string): StoredMessage {
    const before = this.room(roomName).messages.length;
    const message = this.store(roomName, from, body, clientMsgId);
    if (this.room(roomName).messages.length > before) this.broadcast(message);
    return message;
  }

  /** Posts a stored message live to every subscriber of its room. */
  broadcast(message: StoredMessage): void {
    for (const s of this.sockets) if (s.rooms.has(message.room)) s.push({ type: 'message', ...message });
  }

  /** Called by sockets. */
  receive(socket: FakeSocket, request: Frame): void {
    if (socket.state !== 'open') return;
    const room = typeof request.room === 'string' ? request.room : '';
    this.log.push(`${String(request.action)} ${this.sockets.indexOf(socket) + 1}${room ? ` ${room}` : ''}`);
    if (this.hook(socket, request) === 'handled') return;
    switch (request.action) {
      case 'join':
        socket.rooms.add(room);
        socket.push({ type: 'joined', room, lastSeq: this.room(room).messages.length });
        return;
      case 'leave':
        socket.rooms.delete(room);
        socket.push({ type: 'left', room });
        return;
      case 'send': {
        const clientMsgId = request.clientMsgId as string | undefined;
        if (!socket.rooms.has(room)) {
          socket.push({ type: 'error', code: 'forbidden', message: `join ${room} first`, action: 'send', ...(clientMsgId ? { clientMsgId } : {}) });
          return;
        }
        socket.push({ type: 'accepted', room, id: `01K${String(this.#nextId++).padStart(23, '0')}`, ...(clientMsgId ? { clientMsgId } : {}) });
        setImmediate(() => this.publish(room, socket.user, request.body as string, clientMsgId));
        return;
      }
      case 'sync':
        for (const frame of this.syncFrames(request.rooms as Record<string, number>)) socket.push(frame);
        return;
      case 'history': {
        const r = this.room(room);
        const before = (request.before as number | undefined) ?? Infinity;
        const limit = (request.limit as number | undefined) ?? 50;
        const older = r.messages.filter((m) => m.seq < before && m.seq >= r.retainedFrom);
        const page = older.slice(-limit);
        socket.push({ type: 'history', room, messages: page, hasMore: older.length > page.length });
        return;
      }
      case 'ping':
        socket.push({ type: 'pong' });
        return;
      default:
        return;
    }
  }

  /** The frames a `sync` of `rooms` answers, in order. */
  syncFrames(rooms: Record<string, number>): Frame[] {
    const frames: Frame[] = [];
    for (const [name, after] of Object.entries(rooms)) {
      const r = this.room(name);
      const retained = r.messages.filter((m) => m.seq > after && m.seq >= r.retainedFrom);
      for (let i = 0; i < retained.length; i += this.pageSize) {
        frames.push({ type: 'syncPage', room: name, messages: retained.slice(i, i + this.pageSize) });
      }
      frames.push({ type: 'synced', room: name, recovered: after + 1 >= r.retainedFrom, lastSeq: r.messages.length });
    }
    return frames;
  }

  /** Called by sockets. */
  closed(socket: FakeSocket): void {
    this.log.push(`close ${this.sockets.indexOf(socket) + 1}`);
    socket.rooms.clear();
  }

  #opened(socket: FakeSocket): void {
    this.sockets.push(socket);
    this.log.push(`open ${this.sockets.length}`);
    for (const w of this.#waiters.splice(0)) w(socket);
    setImmediate(() => {
      const decision = this.admit(socket);
      if (decision === 'accept') socket.accept();
      else if (decision === 'refuse') socket.drop(1006);
      else if (decision === 'error-only') socket.failWithoutClose();
    });
  }
}

/** The `sub` of an unverified JWT, or `anonymous`. */
export function subOf(token: string): string {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof payload.sub === 'string' ? payload.sub : 'anonymous';
  } catch {
    return 'anonymous';
  }
}

/** Waits until `condition` holds, polling every few ms; fails after `timeoutMs` with `what`. */
export async function until(condition: () => boolean, what = 'the condition', timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Lets every pending immediate and timer of ~`ms` run. */
export function settle(ms = 5): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
