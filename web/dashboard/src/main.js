// The dashboard's shell: session, client-side routes and the layout. Pages are separate modules
// loaded on first use, so the sign-in page does not carry the charts or the PDF library.
import './style.css';
import { api, setCsrf, setUnauthorizedHandler } from './api.js';
import { h, clear, icon, toast } from './dom.js';
import { startLive, stopLive, onLiveState } from './live.js';

const PAGES = {
  '/signup': { title: 'Sign up', public: true, load: () => import('./pages/auth.js'), fn: 'signup' },
  '/login': { title: 'Log in', public: true, load: () => import('./pages/auth.js'), fn: 'login' },
  '/stats': { title: 'Stats', nav: 'stats', load: () => import('./pages/stats.js') },
  '/calls': { title: 'Calls', nav: 'calls', load: () => import('./pages/calls.js') },
  '/integration': { title: 'Integration', nav: 'code', load: () => import('./pages/integration.js') },
  '/branding': { title: 'Branding', nav: 'brush', load: () => import('./pages/branding.js') },
  '/settings': { title: 'Settings', nav: 'settings', load: () => import('./pages/settings.js') },
};
const NAV = ['/stats', '/calls', '/integration', '/branding', '/settings'];

// What the app knows: the signed-in account (GET /v1/web/me) and, only right after sign-up or a
// rotation, the API secret (kept in memory, never stored).
export const app = { me: null, secret: null };

let current = null;
let renderSeq = 0;

export function setSession(me) {
  app.me = me;
  setCsrf(me ? me.csrf_token : null);
  if (me) startLive();
  else stopLive();
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

function shell(path, content) {
  const nav = h('nav', { class: 'nav', 'aria-label': 'Main' },
    NAV.map((p) => h('a', { href: p, class: p === path ? 'active' : null, 'aria-current': p === path ? 'page' : null, dataset: { link: '' } },
      icon(PAGES[p].nav), h('span', { text: PAGES[p].title }))));
  const liveDot = h('span', { class: 'live-dot', title: 'Real-time updates' });
  const liveText = h('span', { class: 'live-text', text: 'Offline' });
  const unsub = onLiveState((on) => {
    liveDot.classList.toggle('on', on);
    liveText.textContent = on ? 'Live' : 'Reconnecting';
  });
  const logout = h('button', { type: 'button', class: 'btn btn-ghost btn-sm logout', onclick: doLogout }, icon('logout'), h('span', { text: 'Log out' }));
  const el = h('div', { class: 'layout' },
    h('aside', { class: 'sidebar' },
      h('div', { class: 'brand' }, h('span', { class: 'logo-mark', text: 'd' }), h('span', { class: 'brand-name', text: 'dcall' })),
      nav,
      h('div', { class: 'account-box' },
        h('div', { class: 'company', text: app.me.company }),
        h('div', { class: 'email', text: app.me.email }),
        h('div', { class: 'live' }, liveDot, liveText),
        logout)),
    h('main', { class: 'main', id: 'main' }, content));
  el.cleanup = unsub;
  return el;
}

async function doLogout() {
  try {
    await api('POST', '/v1/web/logout', {});
  } catch {
    /* the session may be gone already */
  }
  app.secret = null;
  setSession(null);
  navigate('/login', { replace: true });
}

async function route() {
  const seq = ++renderSeq;
  // Unknown paths and pages the session state does not allow go to the right home page.
  let path = location.pathname.replace(/\/+$/, '') || '/';
  if (!PAGES[path] || !!PAGES[path].public === !!app.me) path = app.me ? '/stats' : '/login';
  if (path !== location.pathname) history.replaceState(null, '', path);
  const p = PAGES[path];
  const mod = await p.load();
  if (seq !== renderSeq) return;
  if (current) {
    current.destroy?.();
    current.shell?.cleanup?.();
  }
  const root = document.getElementById('app');
  const ctx = { app, navigate, setSession, toast, query: new URLSearchParams(location.search) };
  const view = await mod[p.fn || 'render'](ctx);
  if (seq !== renderSeq) {
    view.destroy?.();
    return;
  }
  document.title = `${p.title} · dcall`;
  clear(root);
  const shellEl = p.public ? h('div', { class: 'auth-layout' }, view.el) : shell(path, view.el);
  root.append(shellEl);
  current = { destroy: view.destroy, shell: shellEl };
  view.mounted?.();
  window.scrollTo(0, 0);
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  if (a.getAttribute('href') !== location.pathname) navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', route);

setUnauthorizedHandler(() => {
  if (!app.me) return;
  setSession(null);
  toast('Your session ended; please log in again.', 'error');
  navigate('/login', { replace: true });
});

async function boot() {
  try {
    setSession(await api('GET', '/v1/web/me'));
  } catch {
    setSession(null);
  }
  await route();
}
boot();
