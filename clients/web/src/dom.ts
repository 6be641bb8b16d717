/** Small DOM helpers: the page has no framework. */

/** The element with `id`; the page's HTML has every id this is called with. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no #${id}`);
  return el as T;
}

type Attrs = Record<string, string | number | boolean | undefined>;

/** A new element with attributes (`class`, `data-*`, `title`, …; `false`/`undefined` are left out) and children. */
export function h(tag: string, attrs: Attrs = {}, ...children: Array<Node | string>): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  el.append(...children);
  return el;
}

/** `12:04`, in the browser's locale and time zone. */
export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** `Today`, `Yesterday` or the date, for the separators between days. */
export function dayLabel(iso: string, now = new Date()): string {
  const day = new Date(iso);
  const startOf = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((startOf(now) - startOf(day)) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return day.toLocaleDateString([], { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
}

/** The local calendar day of `iso`, to tell where a day separator goes. */
export function dayKey(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** A stable colour for a user's avatar. */
export function hue(user: string): number {
  let hash = 0;
  for (const c of user) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return hash % 360;
}

/** An id for `clientMsgId`: random, and available outside secure contexts (`crypto.randomUUID` is not). */
export function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** An error's message, for a toast or a failed send. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
