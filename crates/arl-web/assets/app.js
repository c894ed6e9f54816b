// The web page of arl serve. Asks only the HTTP API (/v1/...) with the bearer token the
// user signed in with (kept in sessionStorage, never in a URL). Every view is a URL: the
// path names the view, the query its point (as_of, known_at) and its options.
'use strict';

const TOKEN_KEY = 'arl.token';
const PAGE_ROWS = 50;
const POLL_MS = 3000;
const RECONNECT_MS = 2000;
const LIVE_DEBOUNCE_MS = 250;

const state = { who: null, render: 0, live: null, liveSeq: null, marked: false };

// ---- DOM helpers -------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const main = () => document.getElementById('main');

function show(...children) {
  const m = main();
  m.replaceChildren(...children.flat(Infinity).filter((c) => c));
}

function table(headers, rows, attrs) {
  const head = el('tr', null, headers.map((h) => el('th', { class: h.num ? 'num' : h.cls, scope: 'col', text: h.label || h })));
  return el('div', { class: 'scroll' }, el('table', attrs, el('thead', null, head), el('tbody', null, rows)));
}

function errorBox(error) {
  const body = error.body || {};
  return el('p', { class: 'error', role: 'alert' },
    body.error || error.message || String(error),
    body.fix ? el('span', { class: 'muted' }, ' — ', body.fix) : null);
}

// ---- The URL: view and point -------------------------------------------------------

function query() {
  return new URLSearchParams(location.search);
}

function point() {
  const q = query();
  return { as_of: q.get('as_of') || '', known_at: q.get('known_at') || '' };
}

// A link within the app keeping the point; `extra` adds query parameters.
function href(path, extra) {
  const q = new URLSearchParams();
  const p = point();
  if (p.as_of) q.set('as_of', p.as_of);
  if (p.known_at) q.set('known_at', p.known_at);
  for (const [k, v] of Object.entries(extra || {})) {
    if (v === null || v === undefined || v === '' || v === false) q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

function link(path, text, extra) {
  return el('a', { href: href(path, extra), text });
}

function navigate(url, replace) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route(true);
}

document.addEventListener('click', (event) => {
  const a = event.target.closest && event.target.closest('a[href]');
  if (!a || a.target || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/v1/')) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', () => route(true));

// ---- The API -----------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body.error || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function apiUrl(path, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== '' && v !== false) url.searchParams.set(k, v);
  }
  return url;
}

async function api(path, params, init) {
  const response = await fetch(apiUrl(path, params), {
    method: (init && init.method) || 'GET',
    headers: { Authorization: `Bearer ${token()}`, Accept: 'application/json' },
    cache: 'no-store',
  });
  if (init && init.raw && response.ok) return response;
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch (_) {
    body = { error: text };
  }
  if (response.status === 401) {
    signOut(`The server refused the token: ${body.error}`);
    throw new ApiError(401, body);
  }
  if (!response.ok) throw new ApiError(response.status, body);
  if (init && init.total) return { body, total: parseInt(response.headers.get('X-Total-Count'), 10) };
  return init && init.lines ? text : body;
}

function pointParams() {
  return point();
}

function mayAudit() {
  return state.who && (state.who.role === 'auditor' || state.who.role === 'admin');
}

// ---- Sign-in -----------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.who = null;
  stopLive();
  signinForm(message);
}

function signinForm(message) {
  document.getElementById('datebar').hidden = true;
  document.getElementById('nav').replaceChildren();
  document.getElementById('who').replaceChildren();
  document.getElementById('live').textContent = '';
  const input = el('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true });
  const form = el('form', { class: 'signin', id: 'signin' },
    el('h1', { text: 'Sign in' }),
    el('p', { class: 'muted', text: 'Paste a token made with arl token add NAME --role reader (or auditor). It is kept in this tab only.' }),
    el('label', { for: 'token', text: 'Token' }), input,
    el('p', null, el('button', { type: 'submit', class: 'primary', text: 'Sign in' })),
    message ? el('p', { class: 'error', role: 'alert', text: message }) : null);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = '';
    try {
      await whoami();
    } catch (error) {
      if (token()) signOut(error.message);
      return;
    }
    route(true);
  });
  show(form);
  input.focus();
}

async function whoami() {
  state.who = await api('/v1/whoami');
  const who = document.getElementById('who');
  who.replaceChildren(`${state.who.name} (${state.who.role}) `,
    el('button', { type: 'button', id: 'signout', text: 'Sign out', onclick: () => signOut() }));
}

// ---- The date bar ------------------------------------------------------------------

function dateOnly(value) {
  return /^\d{4}-\d{2}-\d{2}/.test(value) ? value.slice(0, 10) : '';
}

function setupDatebar() {
  const bar = document.getElementById('datebar');
  bar.hidden = false;
  const p = point();
  document.getElementById('as_of').value = dateOnly(p.as_of);
  document.getElementById('known_at').value = dateOnly(p.known_at);
  const label = document.getElementById('point_label');
  const moved = p.as_of || p.known_at;
  label.className = moved ? 'point-label moved' : 'point-label';
  label.textContent = `${p.as_of ? `As of ${p.as_of}` : 'As of now'} · ${p.known_at ? `known at ${p.known_at}` : 'everything known'}`;
}

function initDatebar() {
  const bar = document.getElementById('datebar');
  const go = (as_of, known_at) => {
    const q = query();
    for (const [k, v] of [['as_of', as_of], ['known_at', known_at]]) {
      if (v) q.set(k, v);
      else q.delete(k);
    }
    q.delete('page');
    const s = q.toString();
    navigate(s ? `${location.pathname}?${s}` : location.pathname);
  };
  bar.addEventListener('submit', (event) => {
    event.preventDefault();
    go(document.getElementById('as_of').value, document.getElementById('known_at').value);
  });
  document.getElementById('reset_point').addEventListener('click', () => go('', ''));
}

// ---- Routing -----------------------------------------------------------------------

const ROUTES = [
  [/^\/(?:accounts\/?)?$/, searchView, 'Accounts'],
  [/^\/accounts\/([^/]+)$/, accountView, 'Account'],
  [/^\/accounts\/([^/]+)\/history$/, historyView, 'History'],
  [/^\/accounts\/([^/]+)\/balances$/, balancesView, 'Balances'],
  [/^\/accounts\/([^/]+)\/tree$/, treeView, 'Hierarchy'],
  [/^\/accounts\/([^/]+)\/team$/, timelineView, 'Team over time'],
  [/^\/people\/([^/]+)$/, personView, 'Person'],
];

async function route(focus) {
  if (!token()) {
    signinForm();
    return;
  }
  if (!state.who) {
    try {
      await whoami();
    } catch (error) {
      if (token()) show(errorBox(error));
      return;
    }
  }
  setupDatebar();
  startLive();
  const path = location.pathname;
  const ticket = ++state.render;
  for (const [pattern, view, title] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    const id = match[1] ? decodeURIComponent(match[1]) : null;
    document.title = id ? `${title}: ${id} · arl` : `${title} · arl`;
    accountNav(id && path.startsWith('/accounts/') ? id : null);
    try {
      const children = await view(id);
      if (ticket !== state.render) return;
      show(children);
      markRendered();
    } catch (error) {
      if (ticket !== state.render || error.status === 401) return;
      show(el('h1', { text: id || title }), errorBox(error));
    }
    if (focus) main().focus();
    return;
  }
  show(el('h1', { text: 'No such page' }), el('p', null, link('/', 'Search the accounts')));
}

// The first view shown after the page loaded: a performance mark the web benchmark reads
// (crates/arl-bench/web_load.sh).
function markRendered() {
  if (state.marked) return;
  state.marked = true;
  performance.mark('arl:rendered');
}

function accountNav(id) {
  const nav = document.getElementById('nav');
  const items = [['/', 'Accounts']];
  if (id) {
    const base = `/accounts/${encodeURIComponent(id)}`;
    items.push([base, 'Card'], [`${base}/tree`, 'Hierarchy'], [`${base}/team`, 'Team over time'], [`${base}/balances`, 'Balances']);
    if (mayAudit()) items.push([`${base}/history`, 'History']);
  }
  nav.replaceChildren(...items.map(([path, text]) => {
    const a = link(path, text);
    if (path === location.pathname) a.setAttribute('aria-current', 'page');
    return a;
  }));
}

// ---- Views -------------------------------------------------------------------------

// The pager of a list asked of the API a page at a time (limit and offset): with the
// list's length when the answer gives it (`total`), else only whether a next page exists
// (the page asks one row more than it shows).
function pager(page, total, hasNext) {
  const pages = total === null ? null : Math.max(1, Math.ceil(total / PAGE_ROWS));
  const next = pages === null ? hasNext : page < pages;
  const go = (n) => el('a', { href: href(location.pathname, { ...Object.fromEntries(query()), page: n > 1 ? n : '' }), text: n < page ? '← Previous' : 'Next →' });
  return el('nav', { class: 'pager', 'aria-label': 'Pages' },
    page > 1 ? go(page - 1) : null,
    el('span', { text: pages === null ? `Page ${page}` : `Page ${page} of ${pages} (${total} rows)` }),
    next ? go(page + 1) : null);
}

function pageNumber() {
  return Math.max(1, parseInt(query().get('page') || '1', 10) || 1);
}

async function searchView() {
  const page = pageNumber();
  const text = (query().get('q') || '').trim();
  // One page of the search, asked of the server (it stops once the page is full), and
  // one card more to know whether a next page exists.
  const found = await api('/v1/accounts', { ...pointParams(), q: text, limit: PAGE_ROWS + 1, offset: (page - 1) * PAGE_ROWS });
  const rows = found.slice(0, PAGE_ROWS);
  const input = el('input', { type: 'search', id: 'search', name: 'q', value: query().get('q') || '', placeholder: 'id or name', maxlength: 100 });
  const form = el('form', { class: 'controls', role: 'search' },
    el('label', null, 'Search accounts by id or name ', input),
    el('button', { type: 'submit', text: 'Search' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(href('/', { q: input.value.trim() }));
  });
  return [
    el('h1', { text: 'Accounts' }), form,
    table(['Account', 'Name', 'Status', 'Scope', 'Country', 'Parent'], rows.map((c) => el('tr', null,
      el('td', null, link(`/accounts/${encodeURIComponent(c.account)}`, c.account)),
      el('td', { text: c.name }), el('td', { text: c.status }), el('td', { text: c.scope }),
      el('td', { text: c.country || '' }),
      el('td', null, c.parent ? link(`/accounts/${encodeURIComponent(c.parent)}`, c.parent) : ''))), { id: 'accounts' }),
    rows.length ? null : el('p', { class: 'muted', text: 'No account matches.' }),
    pager(page, null, found.length > PAGE_ROWS),
  ];
}

function accountLink(id) {
  return link(`/accounts/${encodeURIComponent(id)}`, id);
}

// A person's or contact's name as the answer gives it: "[erased]" where the subject was
// erased (docs/PRIVACY.md), "[sealed]" for a name the server could not open.
function shownName(row) {
  const name = row ? row.name : null;
  if (row && (row.erased || name === 'arl:erased')) return '[erased]';
  if (typeof name === 'string' && name.startsWith('arl:sealed:')) return '[sealed]';
  return name || null;
}

function personLink(id, name) {
  return link(`/people/${encodeURIComponent(id)}`, name ? `${name} (${id})` : id);
}

async function accountView(id) {
  const path = `/v1/accounts/${encodeURIComponent(id)}`;
  const p = pointParams();
  const [card, team, contacts] = await Promise.all([
    api(path, p), api(`${path}/team`, p), api(`${path}/contacts`, p)]);
  const cls = card.classification;
  const facts = [
    ['Id', card.account], ['Status', card.status], ['Scope', card.scope],
    ['Country', card.country || '—'],
    ['Parent', card.parent ? accountLink(card.parent) : '—'],
    ['Children', card.children.length ? card.children.flatMap((c, i) => (i ? [', ', accountLink(c)] : [accountLink(c)])) : '—'],
    ['Key account', card.key_account ? 'yes' : 'no'],
    ['Classification', cls ? `${cls.category} (${cls.model})` : '—'],
    ['Opened', card.opened_at],
  ];
  return [
    el('h1', { text: card.name }),
    el('dl', { class: 'card', id: 'card' }, facts.map(([k, v]) => [el('dt', { text: k }), el('dd', null, v)])),
    el('h2', null, 'Team ', el('span', { class: 'muted' }, '· ', link(`/accounts/${encodeURIComponent(id)}/team`, 'over time'))),
    team.length ? table(['Role', 'Person', 'Primary', 'Since'], team.map((t) => el('tr', null,
      el('td', { text: t.role }), el('td', null, personLink(t.person, shownName(t))),
      el('td', { text: t.primary ? 'primary' : '' }), el('td', { text: t.since }))), { id: 'team' })
      : el('p', { class: 'muted', id: 'team', text: 'No one is on the team at this point.' }),
    el('h2', { text: 'Contacts (buying center)' }),
    contacts.length ? table(['Name', 'Role', 'Since'], contacts.map((c) => el('tr', null,
      el('td', { text: `${shownName(c) || ''} (${c.contact})` }), el('td', { text: c.role }), el('td', { text: c.since }))), { id: 'contacts' })
      : el('p', { class: 'muted', id: 'contacts', text: 'No contacts at this point.' }),
  ];
}

async function historyView(id) {
  if (!mayAudit()) {
    return [el('h1', { text: `History of ${id}` }),
      el('p', { class: 'error', id: 'needs-auditor', role: 'alert', text: `The history needs the auditor role; this token's role is ${state.who.role}.` })];
  }
  const page = pageNumber();
  const p = { ...pointParams(), limit: PAGE_ROWS, offset: (page - 1) * PAGE_ROWS };
  const [answer, digest] = await Promise.all([
    api(`/v1/accounts/${encodeURIComponent(id)}/history`, p, { total: true }), api('/v1/digest')]);
  const rows = answer.body;
  // An erasure's change has `after: null` with `erased: true`: the name became erased.
  const after = (c) => c.after ?? (c.erased ? '[erased]' : '∅');
  const changes = (step) => step.changes.map((c) => el('div', null, `${c.field}: ${c.before ?? '∅'} → ${after(c)}`));
  const body = rows.map((s) => el('tr', { class: s.applied ? null : 'skipped', 'data-seq': s.seq },
    el('td', { class: 'num', text: s.seq }),
    el('td', null, el('div', { text: `effective ${s.effective_at}` }), el('div', { class: 'muted', text: `recorded ${s.recorded_at}` })),
    el('td', { text: s.type }),
    el('td', { text: s.actor }),
    el('td', { text: s.reason || '' }),
    el('td', null, s.applied ? changes(s) : el('span', { class: 'tag warn', text: `skipped: ${s.skipped}` })),
    el('td', { class: 'hash hide-narrow', text: s.hash })));
  return [
    el('h1', { text: `History of ${id}` }),
    digestPanel(digest),
    table(['Seq', 'Times', 'Type', 'Actor', 'Reason', 'Change (before → after)', { label: 'Hash', cls: 'hide-narrow' }], body, { id: 'history' }),
    pager(page, answer.total, false),
  ];
}

function digestPanel(digest) {
  const result = el('div', { id: 'verify-result', role: 'status' });
  const button = el('button', { type: 'button', id: 'verify', text: 'Verify the ledger' });
  button.addEventListener('click', () => runVerify(button, result));
  return el('section', { 'aria-label': 'Digest' },
    el('dl', { class: 'card', id: 'digest' },
      el('dt', { text: 'Head seq' }), el('dd', { text: digest.seq }),
      el('dt', { text: 'Head hash' }), el('dd', { class: 'hash', text: digest.head }),
      el('dt', { text: 'Merkle root' }), el('dd', { class: 'hash', text: digest.root }),
      el('dt', { text: 'Recorded at' }), el('dd', { text: digest.recorded_at })),
    el('p', null, mayAudit() ? button : null), result);
}

async function runVerify(button, result) {
  button.disabled = true;
  result.textContent = 'Verifying…';
  try {
    const response = await api('/v1/verify', null, { method: 'POST', raw: true });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let last = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        if (line.progress) result.textContent = `Verifying ${line.progress.phase} at seq ${line.progress.seq}…`;
        else last = line;
      }
    }
    result.textContent = last && last.ok
      ? `Verified: ${last.views_checked} events, hash chain, Merkle root and views agree (seq ${last.seq}).`
      : `Verify FAILED: ${last ? last.error : 'no answer'}`;
    result.className = last && last.ok ? 'ok' : 'error';
  } catch (error) {
    result.replaceChildren(errorBox(error));
  } finally {
    button.disabled = false;
  }
}

async function balancesView(id) {
  const q = query();
  const period = ['month', 'quarter', 'year', 'all'].includes(q.get('period')) ? q.get('period') : 'quarter';
  const rollup = q.get('rollup') === 'true';
  const rows = await api('/v1/balances', { ...pointParams(), account: id, period, rollup: rollup ? 'true' : '' });
  const select = el('select', { id: 'period', name: 'period' },
    ['month', 'quarter', 'year', 'all'].map((v) => el('option', { value: v, selected: v === period, text: v })));
  const box = el('input', { type: 'checkbox', id: 'rollup', checked: rollup });
  const apply = () => navigate(href(location.pathname, { period: select.value, rollup: box.checked ? 'true' : '' }));
  select.addEventListener('change', apply);
  box.addEventListener('change', apply);
  const currencies = [...new Set(rows.map((r) => r.currency))];
  return [
    el('h1', { text: `Balances of ${id}${rollup ? ' and its subsidiaries' : ''}` }),
    el('div', { class: 'controls' },
      el('label', null, 'Period ', select),
      el('label', null, box, ' Roll up over subsidiaries')),
    rows.length ? currencies.map((c) => chart(rows.filter((r) => r.currency === c), c)) : el('p', { class: 'muted', text: 'No transactions at this point.' }),
    table(['Period', 'Currency', { label: 'Sales', num: true }, { label: 'Purchases', num: true }, { label: 'Net', num: true }],
      rows.map((r) => el('tr', null, el('td', { text: r.period }), el('td', { text: r.currency }),
        el('td', { class: 'num', text: r.sales }), el('td', { class: 'num', text: r.purchases }), el('td', { class: 'num', text: r.net }))),
      { id: 'balances' }),
  ];
}

// A grouped bar chart (sales, purchases, net per period) of one currency, as SVG.
function chart(rows, currency) {
  const width = 720;
  const height = 240;
  const pad = { left: 70, right: 10, top: 20, bottom: 30 };
  const series = ['sales', 'purchases', 'net'];
  const values = rows.flatMap((r) => series.map((s) => Number(r[s])));
  const max = Math.max(0, ...values);
  const min = Math.min(0, ...values);
  const span = max - min || 1;
  const y = (v) => pad.top + ((max - v) / span) * (height - pad.top - pad.bottom);
  const band = (width - pad.left - pad.right) / Math.max(1, rows.length);
  const bar = Math.max(2, (band * 0.8) / series.length);
  const parts = [
    svg('title', { text: `Sales, purchases and net per period in ${currency}` }),
    svg('text', { x: 4, y: 14, text: currency }),
    svg('line', { x1: pad.left, x2: width - pad.right, y1: y(0), y2: y(0) }),
    svg('text', { x: 4, y: y(max) + 4, text: max.toFixed(2) }),
    svg('text', { x: 4, y: y(min) + 4, text: min.toFixed(2) }),
  ];
  rows.forEach((r, i) => {
    series.forEach((s, j) => {
      const v = Number(r[s]);
      const top = Math.min(y(v), y(0));
      parts.push(svg('rect', {
        class: s, x: (pad.left + i * band + band * 0.1 + j * bar).toFixed(1), y: top.toFixed(1),
        width: (bar - 1).toFixed(1), height: Math.max(0.5, Math.abs(y(v) - y(0))).toFixed(1),
      }, svg('title', { text: `${r.period} ${s}: ${r[s]} ${currency}` })));
    });
    parts.push(svg('text', { x: (pad.left + i * band + band * 0.1).toFixed(1), y: height - 10, text: r.period }));
  });
  series.forEach((s, j) => {
    parts.push(svg('rect', { class: `${s} legend`, x: width - 250 + j * 80, y: 4, width: 10, height: 10 }));
    parts.push(svg('text', { x: width - 236 + j * 80, y: 13, text: s }));
  });
  return svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'data-currency': currency }, parts);
}

// ---- Team over time -----------------------------------------------------------------
// Who held which role between two dates (valid time), as known at the date bar's
// known_at. A bar is the valid interval; a hatched stretch is time the ledger did not know
// yet (an end recorded after it took effect, or a start recorded late), and a dot marks
// when each start and end was recorded.

const DAY_MS = 86400000;

function timeMs(text) {
  if (!text) return NaN;
  return Date.parse(text.length > 10 ? `${text.slice(0, 19)}Z` : `${text}T00:00:00Z`);
}

function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

async function timelineView(id) {
  const q = query();
  const from = dateOnly(q.get('from') || '');
  const to = dateOnly(q.get('to') || '');
  const answer = await api(`/v1/accounts/${encodeURIComponent(id)}/team/timeline`, { known_at: point().known_at, from, to });
  const fromInput = el('input', { type: 'date', id: 'tl_from', name: 'from', value: from });
  const toInput = el('input', { type: 'date', id: 'tl_to', name: 'to', value: to });
  const form = el('form', { class: 'controls', id: 'timeline-window' },
    el('label', null, 'From ', fromInput), el('label', null, 'To ', toInput),
    el('button', { type: 'submit', text: 'Show' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(href(location.pathname, { from: fromInput.value, to: toInput.value }));
  });
  const rows = answer.intervals;
  return [
    el('h1', { text: `Team of ${id} over time` }),
    el('p', { class: 'muted', text: `Valid time ${from || 'from the first assignment'} to ${to || 'now'}, as known ${point().known_at ? `at ${point().known_at}` : 'now (everything known)'} (seq ${answer.at_seq}). As of does not apply here.` }),
    form,
    rows.length ? timelineChart(rows, from, to) : el('p', { class: 'muted', text: 'No one held a role on this account in this window.' }),
    rows.length ? table(['Role', 'Person', 'Valid from', 'Valid to', 'Start recorded', 'End recorded', 'Ended by'], rows.map((i) => el('tr', { class: i.end_backdated || i.start_backdated ? 'backdated' : null, 'data-person': i.person },
      el('td', { text: i.role }), el('td', null, personLink(i.person, shownName(i))),
      el('td', { text: i.valid_from.slice(0, 10) }), el('td', { text: i.valid_to ? i.valid_to.slice(0, 10) : 'holds' }),
      el('td', null, i.start_recorded_at.slice(0, 10), i.start_backdated ? el('span', { class: 'tag warn', text: ' back-dated' }) : null),
      el('td', null, i.end_recorded_at ? i.end_recorded_at.slice(0, 10) : '', i.end_backdated ? el('span', { class: 'tag warn', text: ' back-dated' }) : null),
      el('td', { text: i.end_type || '' }))), { id: 'timeline' }) : null,
  ];
}

// The window drawn: the one asked for, else from the first start to the last time named.
function timelineSpan(rows, from, to) {
  const times = rows.flatMap((i) => [i.valid_from, i.valid_to, i.start_recorded_at, i.end_recorded_at]).map(timeMs).filter((t) => !Number.isNaN(t));
  let lo = from ? timeMs(from) : Math.min(...times);
  let hi = to ? timeMs(to) + DAY_MS : Math.max(...times, Date.now());
  if (!(hi > lo)) hi = lo + DAY_MS;
  const pad = (hi - lo) * 0.02;
  if (!from) lo -= pad;
  if (!to) hi += pad;
  return [lo, hi];
}

function timelineTicks(lo, hi) {
  const years = (hi - lo) / (365 * DAY_MS);
  const step = years > 6 ? 12 : years > 2 ? 6 : years > 1 ? 3 : 1;
  const ticks = [];
  const d = new Date(lo);
  let y = d.getUTCFullYear();
  let m = Math.ceil(d.getUTCMonth() / step) * step;
  for (let n = 0; n < 200; n++) {
    const t = Date.UTC(y + Math.floor(m / 12), m % 12, 1);
    if (t > hi) break;
    if (t >= lo) ticks.push(t);
    m += step;
  }
  return ticks;
}

function timelineChart(rows, from, to) {
  const [lo, hi] = timelineSpan(rows, from, to);
  const lanes = [...new Map(rows.map((i) => [`${i.role} ${i.person}`, i])).keys()];
  const width = 960;
  const label = 230;
  const laneH = 26;
  const top = 28;
  const height = top + lanes.length * laneH + 10;
  const x = (t) => label + ((Math.min(Math.max(t, lo), hi) - lo) / (hi - lo)) * (width - label - 10);
  const defs = svg('defs', null, svg('pattern', { id: 'unknown-hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
    svg('rect', { class: 'hatch-bg', width: 6, height: 6 }), svg('line', { class: 'hatch', x1: 0, y1: 0, x2: 0, y2: 6 })));
  const parts = [svg('title', { text: 'Team over time: valid intervals, and when the ledger learned each start and end' }), defs];
  for (const t of timelineTicks(lo, hi)) {
    parts.push(svg('line', { class: 'grid', x1: x(t), x2: x(t), y1: top - 6, y2: height - 6 }));
    parts.push(svg('text', { x: x(t) + 2, y: top - 10, text: isoDay(t).slice(0, 7) }));
  }
  lanes.forEach((key, n) => {
    const y = top + n * laneH;
    const [role, person] = key.split(' ');
    parts.push(svg('text', { x: 4, y: y + 15, text: `${role} · ${person}` }));
    for (const i of rows.filter((r) => r.role === role && r.person === person)) {
      parts.push(timelineBar(i, x, y, hi));
    }
  });
  const legend = el('p', { class: 'legend muted' },
    el('span', { class: 'key held' }), ' held (valid time) ',
    el('span', { class: 'key unknown' }), ' not yet known to the ledger (back-dated) ',
    el('span', { class: 'key recorded' }), ' recorded');
  return el('figure', { class: 'timeline-figure' },
    svg('svg', { class: 'chart timeline-chart', id: 'timeline-chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Team over time' }, parts),
    legend);
}

function timelineBar(i, x, y, hi) {
  const start = timeMs(i.valid_from);
  const end = i.valid_to ? timeMs(i.valid_to) : hi;
  const group = svg('g', { class: `interval${i.end_backdated || i.start_backdated ? ' backdated' : ''}`, 'data-person': i.person, 'data-role': i.role });
  const ended = i.valid_to ? `to ${i.valid_to.slice(0, 10)} (recorded ${i.end_recorded_at.slice(0, 10)}${i.end_backdated ? ', back-dated' : ''}, ${i.end_type})` : 'and holds';
  group.append(svg('title', { text: `${i.role}: ${shownName(i) || i.person}, from ${i.valid_from.slice(0, 10)} (recorded ${i.start_recorded_at.slice(0, 10)}${i.start_backdated ? ', back-dated' : ''}) ${ended}` }));
  group.append(svg('rect', { class: i.primary ? 'held primary' : 'held', x: x(start).toFixed(1), y: y + 4, width: Math.max(1, x(end) - x(start)).toFixed(1), height: 14 }));
  if (i.start_backdated) {
    const learned = timeMs(i.start_recorded_at);
    group.append(svg('rect', { class: 'unknown start', x: x(start).toFixed(1), y: y + 4, width: Math.max(1, x(Math.min(learned, end)) - x(start)).toFixed(1), height: 14 }));
  }
  if (i.end_backdated) {
    const learned = timeMs(i.end_recorded_at);
    group.append(svg('rect', { class: 'unknown end', x: x(end).toFixed(1), y: y + 4, width: Math.max(1, x(learned) - x(end)).toFixed(1), height: 14 }));
  }
  for (const t of [i.start_recorded_at, i.end_recorded_at]) {
    if (t) group.append(svg('circle', { class: 'recorded', cx: x(timeMs(t)).toFixed(1), cy: y + 21, r: 2.5 }));
  }
  return group;
}

async function treeView(id) {
  // The server answers the tree that holds the account with only its ancestors (each with
  // the one child on the way down) and its own subtree.
  const forest = await api('/v1/accounts', { ...pointParams(), tree: 'true', root: id });
  const contains = (node) => node.account === id || (node.children || []).some(contains);
  const render = (node) => {
    const kids = node.children || [];
    const above = node.account !== id && contains(node);
    const label = el('span', { class: node.account === id ? 'current' : null },
      accountLink(node.account), ` ${node.name} · ${node.scope} · ${node.status}`,
      above ? [' · ', link(`/accounts/${encodeURIComponent(node.account)}/tree`, 'all its subsidiaries')] : null);
    if (!kids.length) return el('li', null, label);
    return el('li', null, el('details', { open: contains(node) || null },
      el('summary', null, label), el('ul', { class: 'tree' }, kids.map(render))));
  };
  return [
    el('h1', { text: `Hierarchy around ${id}` }),
    forest.length ? el('ul', { class: 'tree', id: 'tree' }, forest.map(render))
      : el('p', { class: 'muted', text: 'The account is not in the tree at this point.' }),
    forest.length > 0 && forest[0].account !== id
      ? el('p', { class: 'muted', text: `Above ${id} only the branch down to it is shown; "all its subsidiaries" opens an ancestor's own tree.` })
      : null,
  ];
}

async function personView(id) {
  const p = pointParams();
  const [portfolio, org] = await Promise.all([
    api(`/v1/people/${encodeURIComponent(id)}/portfolio`, p), api('/v1/org', p)]);
  const people = new Map(org.people.map((x) => [x.person, x]));
  const me = people.get(id);
  const who = (pid) => {
    const x = people.get(pid);
    return personLink(pid, x ? shownName(x) : null);
  };
  const up = org.lines.filter((l) => l.person === id);
  const down = org.lines.filter((l) => l.manager === id);
  const lines = (list, pick) => (list.length
    ? el('ul', null, list.map((l) => el('li', null, who(pick(l)), ` · ${l.line} line since ${l.since}`)))
    : el('p', { class: 'muted', text: 'None.' }));
  return [
    el('h1', { text: me ? `${shownName(me) || ''} (${id})` : id }),
    me && (me.title || me.erased) ? el('p', { class: 'muted', text: me.erased && !me.title ? '[erased]' : me.title }) : null,
    el('h2', { text: 'Reports to' }), lines(up, (l) => l.manager),
    el('h2', { text: 'Reporting to them' }), lines(down, (l) => l.person),
    el('h2', { text: 'Portfolio' }),
    portfolio.length ? table(['Account', 'Role', 'Primary', 'Since'], portfolio.map((r) => el('tr', null,
      el('td', null, link(`/accounts/${encodeURIComponent(r.account)}`, `${r.account_name} (${r.account})`)),
      el('td', { text: r.role }), el('td', { text: r.primary ? 'primary' : '' }), el('td', { text: r.since }))), { id: 'portfolio' })
      : el('p', { class: 'muted', id: 'portfolio', text: 'No accounts at this point.' }),
  ];
}

// ---- Live updates ------------------------------------------------------------------
// Auditors follow the API's Server-Sent Events (fetch with the Authorization header:
// EventSource cannot send one); other roles may not subscribe, so their page asks the
// digest every few seconds. Either way a new seq re-renders the view in place.

function liveLabel(text) {
  document.getElementById('live').textContent = text;
}

function stopLive() {
  if (state.live) state.live.stop();
  state.live = null;
}

let refreshTimer = null;
function refreshSoon(seq) {
  state.liveSeq = seq;
  liveLabel(`Live · updated to seq ${seq} at ${new Date().toISOString().slice(11, 19)} UTC`);
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    const active = document.activeElement;
    if (active && active.tagName === 'INPUT' && main().contains(active)) return;
    route(false);
  }, LIVE_DEBOUNCE_MS);
}

// A page the browser keeps after it is left (its back-forward cache) would keep its stream
// open, and a browser opens only a few connections to one host: six pages left so would
// leave none for the next page. So the stream ends when the page is hidden, and starts
// again when a kept page is shown.
window.addEventListener('pagehide', () => stopLive());
window.addEventListener('pageshow', (event) => {
  if (event.persisted && state.who) startLive();
});

function startLive() {
  if (state.live) return;
  const controller = new AbortController();
  let stopped = false;
  state.live = { stop: () => { stopped = true; controller.abort(); } };
  const loop = mayAudit() ? follow : poll;
  loop(controller.signal, () => stopped).catch(() => {});
}

async function poll(signal, stopped) {
  let seen = null;
  liveLabel('Live · checks for new events every 3 s');
  while (!stopped()) {
    try {
      const digest = await api('/v1/digest');
      if (seen !== null && digest.seq !== seen) refreshSoon(digest.seq);
      seen = digest.seq;
    } catch (_) {
      liveLabel('Live · the server did not answer; retrying');
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function follow(signal, stopped) {
  let next = (await api('/v1/digest')).seq + 1;
  while (!stopped()) {
    try {
      liveLabel('Live · following new events');
      const response = await fetch(apiUrl('/v1/events', { follow: 'true', from_seq: next }), {
        headers: { Authorization: `Bearer ${token()}`, Accept: 'text/event-stream' }, signal, cache: 'no-store',
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const id = /^id: ?(\d+)$/m.exec(frame);
          if (/^event: ?envelope$/m.test(frame) && id) {
            next = Number(id[1]) + 1;
            refreshSoon(Number(id[1]));
          }
        }
      }
    } catch (_) {
      if (stopped()) return;
    }
    liveLabel('Live · reconnecting');
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
  }
}

// ---- Start -------------------------------------------------------------------------

initDatebar();
route(false);
