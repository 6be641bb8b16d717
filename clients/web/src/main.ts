/**
 * The page's entry: sign in (a dev token, or a pasted token where the server mints none), then
 * the chat. `window.starling` holds the running chat, for the browser's console.
 */
import { readClaims } from '../../typescript/src/token.js';
import { ChatApp } from './chat.js';
import { byId } from './dom.js';
import { NoDevTokens, type Session, devTokenProvider, fetchDevToken, loadSession, saveSession, serverInfo } from './signin.js';

declare global {
  interface Window {
    starling?: ChatApp;
  }
}

let chat: ChatApp | undefined;

/** Where the pasted-token form proposes to connect: the devstack's URL, else this host's `/local`. */
let suggestedUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/local`;

function showSignIn(noDevTokens: boolean, why?: string): void {
  document.body.dataset.state = 'signed-out';
  byId('chat').hidden = true;
  byId('signin').hidden = false;
  byId('signin-form').hidden = noDevTokens;
  byId('token-form').hidden = !noDevTokens;
  if (noDevTokens) {
    byId('token-why').textContent = why ?? new NoDevTokens().message;
    const url = byId<HTMLInputElement>('token-url');
    if (url.value === '') url.value = suggestedUrl;
  } else byId<HTMLInputElement>('signin-user').focus();
}

function start(url: string, user: string, tokens: ConstructorParameters<typeof ChatApp>[2]): void {
  byId('signin').hidden = true;
  byId('chat').hidden = false;
  chat = new ChatApp(url, user, tokens);
  window.starling = chat;
  byId<HTMLTextAreaElement>('composer-input').focus();
}

async function resume(session: Session): Promise<void> {
  if (session.mode === 'pasted') {
    const user = readClaims(session.token).sub ?? 'unknown';
    start(session.url, user, () => session.token);
    return;
  }
  try {
    const token = await fetchDevToken(session.user);
    start(token.url, token.user, devTokenProvider(token));
  } catch (error) {
    saveSession(undefined);
    showSignIn(error instanceof NoDevTokens);
    showError('signin-error', error);
  }
}

function showError(id: string, error: unknown): void {
  const el = byId(id);
  el.textContent = error instanceof Error ? error.message : String(error);
  el.hidden = false;
}

function wireSignIn(): void {
  byId<HTMLFormElement>('signin-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const user = byId<HTMLInputElement>('signin-user').value.trim();
    byId('signin-error').hidden = true;
    fetchDevToken(user).then(
      (token) => {
        saveSession({ mode: 'dev', user: token.user });
        start(token.url, token.user, devTokenProvider(token));
      },
      (error: unknown) => (error instanceof NoDevTokens ? showSignIn(true) : showError('signin-error', error)),
    );
  });
  byId<HTMLFormElement>('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const url = byId<HTMLInputElement>('token-url').value.trim();
    const token = byId<HTMLTextAreaElement>('token-value').value.trim();
    const user = readClaims(token).sub;
    if (user === undefined) return showError('token-error', new Error('That is not a JWT with a sub claim.'));
    if (!/^wss?:\/\//.test(url)) return showError('token-error', new Error('The URL starts with ws:// or wss://.'));
    saveSession({ mode: 'pasted', url, token });
    start(url, user, () => token);
  });
}

function wireChat(): void {
  const input = byId<HTMLTextAreaElement>('composer-input');
  const submit = () => {
    chat?.send(input.value);
    input.value = '';
    input.style.height = '';
  };
  byId<HTMLFormElement>('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  input.addEventListener('input', () => {
    chat?.keystroke();
    input.style.height = '';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  });
  const join = byId<HTMLInputElement>('join-room');
  byId<HTMLFormElement>('join-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const room = join.value.trim();
    if (room !== '') void chat?.open(room, true);
    join.value = '';
  });
  const dm = byId<HTMLInputElement>('dm-user');
  byId<HTMLFormElement>('dm-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const user = dm.value.trim();
    if (user !== '') void chat?.openDm(user);
    dm.value = '';
  });
  const member = byId<HTMLInputElement>('add-member');
  byId<HTMLFormElement>('add-member-form').addEventListener('submit', (event) => {
    event.preventDefault();
    chat?.addMember(member.value.trim());
    member.value = '';
  });
  byId('older').addEventListener('click', () => void chat?.loadOlder());
  byId('leave').addEventListener('click', () => void chat?.leave());
  byId<HTMLSelectElement>('me-status').addEventListener('change', (event) => {
    chat?.setStatus((event.target as HTMLSelectElement).value === 'away' ? 'away' : 'online');
  });
  byId('signout').addEventListener('click', () => {
    chat?.close();
    chat = undefined;
    delete window.starling;
    saveSession(undefined);
    location.reload();
  });
}

async function boot(): Promise<void> {
  wireSignIn();
  wireChat();
  const session = loadSession();
  if (session !== undefined) return resume(session);
  const info = await serverInfo();
  if (info !== undefined) suggestedUrl = info.url;
  showSignIn(info?.devTokens === false);
}

void boot();
