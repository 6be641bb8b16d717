import type { ClientRequest } from './generated/protocol.js';

/** The events of a WebSocket that the SDK listens to. */
export interface WebSocketEventMapLike {
  /** The handshake completed. */
  open: unknown;
  /** A message arrived. */
  message: {
    /** The message: a string for text frames (the only kind Starling sends). */
    data: unknown;
  };
  /** The connection closed. */
  close: {
    /** The close code (1000 normal, 1001 going away, 1006 lost, 1009 too big, …). */
    code: number;
    /** The close reason, often empty. */
    reason: string;
  };
  /** Something failed; a refused handshake shows up only as this. */
  error: unknown;
}

/**
 * The part of the WHATWG `WebSocket` the SDK uses: the browser's, Node ≥ 22's global one, or a
 * test double.
 */
export interface WebSocketLike {
  /** Sends one text message. */
  send(data: string): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Listens to one of the events the SDK uses. */
  addEventListener<K extends keyof WebSocketEventMapLike>(type: K, listener: (event: WebSocketEventMapLike[K]) => void): void;
}

/** A `WebSocket` constructor: `globalThis.WebSocket`, or one passed in the options. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** What a {@link Link} reports. */
export interface LinkEvents {
  open(link: Link): void;
  frame(link: Link, frame: Record<string, unknown>): void;
  close(link: Link, code: number, reason: string): void;
}

let nextLinkId = 1;

/**
 * One WebSocket connection: parses frames, stamps the time of the last client frame (only
 * client frames keep API Gateway's idle timer alive), and reports its close exactly once. A
 * link closed by the SDK reports nothing more.
 */
export class Link {
  /** A number unique in this process, for logs and tests. */
  readonly id = nextLinkId++;
  /** When the handshake completed (ms since the epoch), or `undefined` before. */
  openedAt: number | undefined;
  /** When the client last sent a frame on it (ms since the epoch). */
  lastSentAt = 0;
  /** Whether the SDK closed it (so its close code says nothing about the server's reasons). */
  closedByClient = false;
  readonly #socket: WebSocketLike;
  readonly #events: LinkEvents;
  #done = false;

  constructor(WebSocketCtor: WebSocketConstructor, url: string, events: LinkEvents) {
    this.#events = events;
    this.#socket = new WebSocketCtor(url);
    this.#socket.addEventListener('open', () => {
      if (this.#done) return;
      this.openedAt = Date.now();
      this.lastSentAt = this.openedAt;
      this.#events.open(this);
    });
    this.#socket.addEventListener('message', (event) => {
      if (this.#done || typeof event.data !== 'string') return;
      let frame: unknown;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (typeof frame === 'object' && frame !== null && !Array.isArray(frame)) {
        this.#events.frame(this, frame as Record<string, unknown>);
      }
    });
    this.#socket.addEventListener('close', (event) => this.#finish(event.code, event.reason));
    // The standard says a close follows every error, but some implementations (Node 20's
    // undici after a refused handshake) never send it, so an error ends the link by itself.
    this.#socket.addEventListener('error', () => {
      if (this.#done) return;
      // Finished first: closing a failed socket can fire `error` again, synchronously.
      this.#finish(1006, 'error');
      try {
        this.#socket.close();
      } catch {
        // Already closing.
      }
    });
  }

  /** Whether the handshake completed and the link is not closed. */
  get open(): boolean {
    return this.openedAt !== undefined && !this.#done;
  }

  /** Whether the link is closed (by either side). */
  get closed(): boolean {
    return this.#done;
  }

  /** Sends one request; `false` when the link is not open. */
  send(request: ClientRequest): boolean {
    if (!this.open) return false;
    try {
      this.#socket.send(JSON.stringify(request));
    } catch {
      return false;
    }
    this.lastSentAt = Date.now();
    return true;
  }

  /**
   * Closes the link and reports the close at once (with `code`), without waiting for the
   * server's close frame: the SDK treats the link as gone from now on.
   */
  close(code = 1000, reason = ''): void {
    if (!this.#done) this.closedByClient = true;
    try {
      this.#socket.close(code, reason);
    } catch {
      // Closing an already closing socket is not an error worth reporting.
    }
    this.#finish(code, reason);
  }

  #finish(code: number, reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#events.close(this, code, reason);
  }
}
