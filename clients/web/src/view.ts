/**
 * The chat's DOM: lists, the conversation, members, typing, receipts, the banner. It only
 * draws what {@link ChatApp} tells it; the data attributes (`data-seq`, `data-status`, …) are
 * what the browser test reads.
 */
import type { ConnectionState, PresenceStatus, RoomId, RoomStats, UserId } from '../../typescript/src/index.js';
import { byId, clock, dayKey, dayLabel, h, hue } from './dom.js';
import type { SafetyEntry } from './e2e.js';
import { type RoomModel, type Shown, dmPeer } from './rooms.js';

/** Consecutive messages of one sender within this long share one header. */
const GROUP_MS = 5 * 60_000;

export interface ViewEvents {
  select(room: RoomId): void;
  openDm(user: UserId): void;
}

export class View {
  readonly #me: UserId;
  readonly #events: ViewEvents;
  readonly #messages = byId<HTMLOListElement>('messages');
  readonly #pending = byId<HTMLOListElement>('pending');
  readonly #scroller = byId('scroller');
  #myStatus: PresenceStatus = 'online';
  #connected = false;

  constructor(me: UserId, events: ViewEvents) {
    this.#me = me;
    this.#events = events;
    byId('me-name').textContent = me;
  }

  /** The rooms and the DMs of the sidebar, with unread badges and the DM peers' dots. */
  lists(rooms: RoomModel[], current: RoomId | undefined, statuses: Map<UserId, PresenceStatus>): void {
    const roomItems: HTMLElement[] = [];
    const dmItems: HTMLElement[] = [];
    for (const model of [...rooms].sort((a, b) => a.id.localeCompare(b.id))) {
      if (model.hidden) continue;
      const peer = dmPeer(model.id, this.#me);
      const mark = model.encrypted ? lock() : h('span', { class: 'hash' }, '#');
      const label = peer === undefined ? [mark, model.id] : [this.#dot(peer, statuses), peer];
      const badge = model.unread > 0 ? [h('span', { class: 'badge', 'data-unread': model.unread }, String(model.unread))] : [];
      const link = h('button', { type: 'button', class: model.id === current ? 'item active' : 'item', 'data-room': model.id }, ...label, ...badge);
      link.addEventListener('click', () => this.#events.select(model.id));
      (peer === undefined ? roomItems : dmItems).push(h('li', {}, link));
    }
    const unread = [...rooms].reduce((n, m) => n + (m.hidden ? 0 : m.unread), 0);
    document.title = unread > 0 ? `(${unread}) Starling chat` : 'Starling chat';
    byId('room-list').replaceChildren(...roomItems);
    byId('dm-list').replaceChildren(...dmItems);
  }

  /** The room's header, messages, pending sends and receipts, scrolled to the newest. */
  conversation(model: RoomModel | undefined, cursors: Map<UserId, number>): void {
    this.header(model);
    if (model?.encrypted !== true) this.safety(undefined);
    const nodes: HTMLElement[] = [];
    let previous: Shown | undefined;
    for (const m of model?.sorted() ?? []) {
      nodes.push(...this.#messageNodes(m, previous));
      previous = m;
    }
    this.#messages.replaceChildren(...nodes);
    this.#messages.dataset.room = model?.id ?? '';
    this.#messages.dataset.loaded = String(model?.loaded ?? false);
    this.pending(model);
    this.receipts(model, cursors);
    this.#scrollToEnd();
  }

  /** The room's name (with a lock for an encrypted room), what it is, and its buttons. */
  header(model: RoomModel | undefined): void {
    const peer = model === undefined ? undefined : dmPeer(model.id, this.#me);
    const title = byId('room-title');
    if (model === undefined || peer !== undefined) title.replaceChildren(peer ?? 'No room');
    else title.replaceChildren(model.encrypted ? lock() : '# ', model.id);
    const sub = model === undefined ? 'Join a room to start' : peer !== undefined ? 'direct message' : model.encrypted ? this.#e2eLine(model) : 'room';
    byId('room-sub').textContent = sub;
    byId('room-sub').title = sub;
    byId('add-member-form').hidden = model?.e2e?.state !== 'member';
    byId('leave').hidden = model === undefined;
    byId('composer').hidden = model === undefined;
    byId('older').hidden = !(model?.hasOlder ?? false);
  }

  /** Adds `m` after the last message (the common case); anything else redraws the list. */
  append(model: RoomModel, m: Shown, cursors: Map<UserId, number>): void {
    const sorted = model.sorted();
    const previous = sorted[sorted.length - 2];
    const last = [...this.#messages.querySelectorAll<HTMLElement>('li.msg')].pop() ?? null;
    if (sorted[sorted.length - 1] !== m || (last !== null && Number(last.dataset.seq) !== previous?.seq)) {
      this.conversation(model, cursors);
      return;
    }
    const atEnd = this.#atEnd();
    this.#messages.append(...this.#messageNodes(m, previous));
    this.receipts(model, cursors);
    if (atEnd || m.from === this.#me) this.#scrollToEnd();
  }

  /** Messages sent from here that the server has not delivered back yet. */
  pending(model: RoomModel | undefined): void {
    const items = [...(model?.pending.values() ?? [])].map((p) =>
      h('li', { class: p.failed === undefined ? 'msg mine pending-msg' : 'msg mine failed', 'data-client-msg-id': p.clientMsgId },
        h('div', { class: 'body' }, p.body),
        h('div', { class: 'meta' }, p.failed ?? 'sending…')));
    this.#pending.replaceChildren(...items);
  }

  /** "Seen by" under the newest message each other reader's cursor has reached. */
  receipts(model: RoomModel | undefined, cursors: Map<UserId, number>): void {
    for (const old of this.#messages.querySelectorAll('.receipt')) old.remove();
    if (model === undefined) return;
    const shown = [...this.#messages.querySelectorAll<HTMLElement>('li.msg')];
    const bySeq = new Map<HTMLElement, UserId[]>();
    for (const [user, cursor] of cursors) {
      if (user === this.#me) continue;
      const at = shown.filter((el) => Number(el.dataset.seq) <= cursor).pop();
      if (at !== undefined) bySeq.set(at, [...(bySeq.get(at) ?? []), user]);
    }
    for (const [el, users] of bySeq) {
      const who = dmPeer(model.id, this.#me) === undefined ? `Seen by ${users.sort().join(', ')}` : 'Seen';
      el.append(h('div', { class: 'receipt', 'data-seen-by': users.sort().join(' ') }, who));
    }
  }

  /** The room's members with their presence dots; clicking one opens a DM. */
  members(model: RoomModel | undefined, statuses: Map<UserId, PresenceStatus>): void {
    const order: Record<PresenceStatus, number> = { online: 0, away: 1, offline: 2 };
    const users = [...(model?.members ?? [])].sort(
      (a, b) => order[statuses.get(a) ?? 'offline'] - order[statuses.get(b) ?? 'offline'] || a.localeCompare(b));
    byId('member-list').replaceChildren(...users.map((user) => {
      const status = statuses.get(user) ?? 'offline';
      const item = h('button', { type: 'button', class: 'item', 'data-user': user, 'data-status': status, title: user === this.#me ? 'you' : `${status}: message ${user}` },
        this.#dot(user, statuses), user, user === this.#me ? h('span', { class: 'muted' }, ' (you)') : '');
      if (user !== this.#me) item.addEventListener('click', () => this.#events.openDm(user));
      return h('li', {}, item);
    }));
    this.#myStatus = statuses.get(this.#me) ?? 'online';
    this.#showMyStatus();
  }

  /**
   * An encrypted room's member devices with their safety numbers, to compare with what each
   * member's own page shows for its device; hidden for other rooms.
   */
  safety(entries: SafetyEntry[] | undefined): void {
    byId('room-safety').hidden = entries === undefined;
    const items = (entries ?? []).map((e) => {
      const device = e.own ? 'this device' : `device ${e.device}`;
      return h('li', { class: 'safety-entry', 'data-safety-user': e.user, 'data-safety-device': e.device, 'data-number': e.number, 'data-own': e.own },
        h('div', { class: 'who' }, h('strong', {}, e.user), ' ', h('span', { class: 'muted', title: `device ${e.device}` }, device)),
        h('code', { class: 'number', 'aria-label': `safety number of ${e.user}, ${device}` }, e.number));
    });
    if (entries !== undefined && items.length === 0) items.push(h('li', { class: 'muted' }, 'This device is not in the group yet.'));
    byId('safety-list').replaceChildren(...items);
  }

  /** The room's activity over the last hour (the `stats` action): totals, and messages per minute as bars. */
  stats(stats: RoomStats | undefined): void {
    const panel = byId('room-stats');
    panel.hidden = stats === undefined;
    if (stats === undefined) return;
    const { messages, senders, deliveries } = stats.totals;
    Object.assign(panel.dataset, { room: stats.room, messages: String(messages), senders: String(senders), deliveries: String(deliveries) });
    byId('stats-messages').textContent = messages.toLocaleString();
    byId('stats-senders').textContent = senders.toLocaleString();
    byId('stats-deliveries').textContent = deliveries.toLocaleString();
    const perMinute = new Map(stats.minutes.map((m) => [m.minute, m.messages]));
    const peak = Math.max(1, ...perMinute.values());
    const now = Date.now();
    const bars = Array.from({ length: 60 }, (_, i) => {
      const minute = new Date(now - (59 - i) * 60_000).toISOString().slice(0, 16) + 'Z';
      const n = perMinute.get(minute) ?? 0;
      return h('span', { style: `height: ${Math.round((100 * n) / peak)}%`, title: `${minute}: ${n} messages` });
    });
    byId('stats-bars').replaceChildren(...bars);
  }

  /** One's own dot: one's status while connected, offline while not. */
  #showMyStatus(): void {
    const dot = byId('me-dot');
    dot.dataset.status = this.#connected ? this.#myStatus : 'offline';
    dot.title = this.#connected ? this.#myStatus : 'not connected';
  }

  /** "bob is typing…" for the current room. */
  typing(users: UserId[]): void {
    const el = byId('typing');
    el.dataset.users = users.join(' ');
    if (users.length === 0) el.replaceChildren();
    else {
      const who = users.length === 1 ? `${users[0]} is` : users.length === 2 ? `${users[0]} and ${users[1]} are` : 'Several people are';
      el.replaceChildren(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), `${who} typing…`);
    }
  }

  /** The connection banner: hidden while connected. */
  state(state: ConnectionState, waiting: number): void {
    document.body.dataset.state = state;
    this.#connected = state === 'connected';
    this.#showMyStatus();
    const banner = byId('banner');
    banner.dataset.state = state;
    const queued = waiting > 0 ? ` ${waiting} message${waiting === 1 ? '' : 's'} will be sent when it is back.` : '';
    const text: Record<ConnectionState, string> = {
      connecting: 'Connecting…',
      reconnecting: `Reconnecting… the connection dropped.${queued}`,
      connected: '',
      disconnected: 'Disconnected.',
    };
    banner.textContent = text[state];
    banner.hidden = state === 'connected';
  }

  toast(text: string): void {
    const toast = h('div', { class: 'toast', role: 'alert' }, text);
    byId('toasts').append(toast);
    setTimeout(() => toast.remove(), 6_000);
  }

  /** Keeps the reader's place while older messages are put above. */
  keepingPlace(redraw: () => void): void {
    const fromEnd = this.#scroller.scrollHeight - this.#scroller.scrollTop;
    redraw();
    this.#scroller.scrollTop = this.#scroller.scrollHeight - fromEnd;
  }

  #messageNodes(m: Shown, previous: Shown | undefined): HTMLElement[] {
    const nodes: HTMLElement[] = [];
    const newDay = previous === undefined || dayKey(previous.sentAt) !== dayKey(m.sentAt);
    if (newDay) nodes.push(h('li', { class: 'day', role: 'separator' }, h('span', {}, dayLabel(m.sentAt))));
    const ids = { 'data-seq': m.seq, 'data-room': m.room, 'data-from': m.from, 'data-id': m.id, 'data-note': m.note };
    if (m.note === 'members') {
      nodes.push(h('li', { ...ids, class: 'msg note' }, h('div', { class: 'body' }, m.body, ' ', h('time', { datetime: m.sentAt }, clock(m.sentAt)))));
      return nodes;
    }
    const grouped = !newDay && previous?.note === undefined && previous?.from === m.from && Date.parse(m.sentAt) - Date.parse(previous.sentAt) < GROUP_MS;
    const mine = m.from === this.#me;
    const attrs = { ...ids, class: `msg${mine ? ' mine' : ''}${grouped ? ' grouped' : ''}` };
    const time = h('time', { datetime: m.sentAt, title: new Date(m.sentAt).toLocaleString() }, clock(m.sentAt));
    const from = m.from === '' ? 'unknown sender' : m.from;
    const head = grouped ? [] : [
      h('div', { class: 'avatar', style: `--hue:${hue(from)}`, 'aria-hidden': 'true' }, from.slice(0, 1).toUpperCase()),
      h('div', { class: 'head' }, h('span', { class: 'from', title: m.device === undefined ? undefined : `device ${m.device}` }, from), time),
    ];
    const body = m.note === 'undecryptable' ? h('div', { class: 'body undecryptable' }, lock('not readable'), m.body) : h('div', { class: 'body' }, m.body);
    nodes.push(h('li', attrs, ...head, body, ...(grouped ? [h('span', { class: 'hover-time' }, clock(m.sentAt))] : [])));
    return nodes;
  }

  /** What the header says of an encrypted room: how this device stands in its group. */
  #e2eLine(model: RoomModel): string {
    const e2e = model.e2e;
    if (e2e === undefined) return 'end-to-end encrypted · opening…';
    if (e2e.state === 'creating') return 'end-to-end encrypted · making the group…';
    if (e2e.state === 'waiting') return `end-to-end encrypted · a member has to add ${this.#me} (this device published its keys)`;
    return `end-to-end encrypted · ${e2e.devices} device${e2e.devices === 1 ? '' : 's'} · epoch ${e2e.epoch ?? 0}`;
  }

  #dot(user: UserId, statuses: Map<UserId, PresenceStatus>): HTMLElement {
    const status = statuses.get(user) ?? 'offline';
    return h('span', { class: 'dot', 'data-status': status, 'data-user': user, title: status });
  }

  #atEnd(): boolean {
    const s = this.#scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 40;
  }

  #scrollToEnd(): void {
    this.#scroller.scrollTop = this.#scroller.scrollHeight;
  }
}

/**
 * The lock of an encrypted room (or, with `label`, of a message that is not readable): drawn by
 * the stylesheet, so it does not depend on an emoji font; its label is what screen readers say.
 */
function lock(label = 'end-to-end encrypted'): HTMLElement {
  const title = label === 'end-to-end encrypted' ? 'End-to-end encrypted (MLS): the server stores and relays only ciphertext' : label;
  return h('span', { class: 'lock', role: 'img', 'aria-label': label, title });
}
