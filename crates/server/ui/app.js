// Keyward web console: plain ES2020, no framework, no build step.
//
// Security rules this file keeps:
// - the API key and the access token live in this module's memory only (never in
//   localStorage, sessionStorage or cookies, never logged): a reload signs out;
// - server data reaches the page through textContent and createElement only, never innerHTML;
// - no inline script or style: the page runs under a strict Content-Security-Policy.

const GRANT_TYPE = 'urn:ibm:params:oauth:grant-type:apikey';
const KEY_TYPE = 'application/vnd.ibm.kms.key+json';
const ROOT_KEY_PREF = 'user_root_key_crn';
const REFRESH_MARGIN_MS = 60_000;
const POLL_INTERVAL_MS = 500;
const AUDIT_PAGE = 1000;
const AUDIT_KEPT = 500;
const AUDIT_SHOWN = 200;
const KEY_LIST_LIMIT = 1000;

const KEY_STATES = { 0: 'Pre-active', 1: 'Active', 2: 'Suspended', 3: 'Deactivated', 5: 'Destroyed' };

// ------------------------------------------------------------------ session (memory only)

const session = {
  apikey: null,
  token: null,
  expiresAt: 0,
  claims: null,
  epoch: 0, // bumped at sign-in and sign-out: answers of an older epoch are dropped
  kmsInstances: [],
  configInstances: [],
  kmsInstance: null,
  givenKmsInstance: null, // named at sign-in, for a caller who may not list the instances
  instancesNote: '', // why the instance lists are partial, if they are
};

const keysView = { keys: [], rings: [], selected: null, load: 0 };
const instancesView = { states: new Map(), keys: [], authorization: null, timers: new Map(), load: 0 };
const auditView = { events: [], cursor: 0, read: 0, load: 0 };

// ------------------------------------------------------------------ DOM helpers

const $ = (selector) => document.querySelector(selector);

/** An element with attributes, listeners (`onclick`) and children (nodes or plain text). */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

function show(el, visible = true) {
  el.hidden = !visible;
}

/** Shows `message` in an error element (one line), or hides it when empty. */
function setError(el, message) {
  el.textContent = message || '';
  show(el, Boolean(message));
}

function setStatus(el, message) {
  el.textContent = message || '';
}

let noticeTimer = null;

/** A short confirmation of what was done, in a toast that goes away by itself. */
function notify(message) {
  $('#announcer').textContent = message;
  $('#notice-text').textContent = message;
  show($('#notice'));
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(dismissNotice, 8000);
}

function dismissNotice() {
  clearTimeout(noticeTimer);
  show($('#notice'), false);
}

/** `2026-11-30T21:23:08Z` → `2026-11-30 21:23:08`; empty for nothing. */
function formatDate(value) {
  if (!value) return '';
  return String(value).replace('T', ' ').replace(/(\.\d+)?Z$/, '');
}

/** A table cell's date: the day, with the full time as its tooltip. */
function dateCell(value) {
  if (!value) return h('td', {}, '—');
  return h('td', { class: 'nowrap', title: formatDate(value) }, formatDate(value).slice(0, 10));
}

function shortId(id) {
  return id ? `${String(id).slice(0, 8)}…` : '';
}

function stateBadge(state) {
  const label = KEY_STATES[state] || `State ${state}`;
  return h('span', { class: `badge badge-state-${state}` }, label);
}

function code(text) {
  return h('code', { class: 'code' }, text);
}

// ------------------------------------------------------------------ errors

class ApiError extends Error {
  constructor(method, path, status, body) {
    super(describeError(status, body));
    this.method = method;
    this.path = path;
    this.status = status;
    this.code = errorCode(body);
  }
}

function errorCode(body) {
  return (
    body?.resources?.[0]?.reasons?.[0]?.code || body?.errors?.[0]?.code || body?.errorCode || null
  );
}

/** One line for a person: the reason code and the message, whatever the API's error shape. */
function describeError(status, body) {
  const kms = body?.resources?.[0];
  const reason = kms?.reasons?.[0];
  const openscale = body?.errors?.[0];
  const message =
    reason?.message ||
    kms?.errorMsg ||
    openscale?.message ||
    body?.errorMessage ||
    (typeof body === 'string' && body.trim() ? body.trim().slice(0, 200) : null) ||
    'the server gave no details';
  const codeText = errorCode(body) || `HTTP ${status}`;
  return `${codeText}: ${message}`;
}

/** The message to show for anything a request threw (network failures included). */
function messageOf(error) {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return 'NETWORK_ERROR: the server could not be reached';
  return error?.message || String(error);
}

// ------------------------------------------------------------------ tokens

async function readBody(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Exchanges the API key for an access token (IBM's form). */
async function requestToken(apikey) {
  const response = await fetch('/identity/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: GRANT_TYPE, apikey }).toString(),
    cache: 'no-store',
  });
  const body = await readBody(response);
  if (!response.ok || !body?.access_token) {
    throw new ApiError('POST', '/identity/token', response.status, body);
  }
  return body;
}

/** The token's claims, read for display only (the server verifies it). */
function decodeClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return null;
  }
}

function keepToken(answer) {
  session.token = answer.access_token;
  session.expiresAt = Date.now() + Number(answer.expires_in || 3600) * 1000;
  session.claims = decodeClaims(answer.access_token);
}

/** A token valid for at least another minute, asking again with the API key when needed. */
async function validToken(force = false) {
  if (!session.apikey) throw new Error('SIGNED_OUT: sign in again');
  if (force || !session.token || Date.now() > session.expiresAt - REFRESH_MARGIN_MS) {
    const epoch = session.epoch;
    try {
      const answer = await requestToken(session.apikey);
      if (epoch === session.epoch) keepToken(answer);
    } catch (error) {
      if (error instanceof ApiError && error.status < 500) {
        signOut(`Your session ended: ${error.message}`);
      }
      throw error;
    }
  }
  return session.token;
}

// ------------------------------------------------------------------ API calls

/**
 * Calls the API with the session's token. `kms: true` adds the KMS instance header. A 401 is
 * retried once with a fresh token (the token may have been revoked or expired early).
 */
async function api(method, path, { body, kms = false, headers = {} } = {}) {
  const epoch = session.epoch;
  const send = async (token) => {
    const all = { accept: 'application/json', authorization: `Bearer ${token}`, ...headers };
    if (kms) all['bluemix-instance'] = session.kmsInstance;
    if (body !== undefined) all['content-type'] = 'application/json';
    return fetch(path, {
      method,
      headers: all,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  };
  let response = await send(await validToken());
  if (response.status === 401) response = await send(await validToken(true));
  const data = await readBody(response);
  if (epoch !== session.epoch) throw new Error('SIGNED_OUT: the session changed');
  if (!response.ok) throw new ApiError(method, path, response.status, data);
  return data;
}

const kmsGet = (path) => api('GET', path, { kms: true });
const encode = encodeURIComponent;

// ------------------------------------------------------------------ sign in and out

async function signIn(event) {
  event.preventDefault();
  const input = $('#apikey');
  const button = $('#signin-button');
  const apikey = input.value.trim();
  setError($('#signin-error'), '');
  if (!apikey) {
    setError($('#signin-error'), 'Enter an API key.');
    input.focus();
    return;
  }
  button.disabled = true;
  button.textContent = 'Signing in…';
  try {
    const answer = await requestToken(apikey);
    session.epoch += 1;
    session.apikey = apikey;
    keepToken(answer);
    input.value = '';
    session.givenKmsInstance = $('#kms-instance-id').value.trim() || null;
    await loadInstances();
    renderSession();
    if (!location.hash || location.hash === '#signin') location.hash = '#keys';
    else route();
  } catch (error) {
    session.apikey = null;
    session.token = null;
    setError($('#signin-error'), messageOf(error));
    input.select();
  } finally {
    button.disabled = false;
    button.textContent = 'Sign in';
  }
}

/** Forgets the API key, the token and every piece of data shown; `reason` when it was not asked. */
function signOut(reason = '') {
  session.epoch += 1;
  Object.assign(session, { apikey: null, token: null, expiresAt: 0, claims: null });
  Object.assign(session, { kmsInstances: [], configInstances: [], kmsInstance: null });
  Object.assign(session, { givenKmsInstance: null, instancesNote: '' });
  stopAllWatches();
  Object.assign(keysView, { keys: [], rings: [], selected: null });
  Object.assign(auditView, { events: [], cursor: 0, read: 0 });
  instancesView.states.clear();
  instancesView.keys = [];
  instancesView.authorization = null;
  const shown = ['#keys-body', '#key-actions', '#key-facts', '#key-versions', '#key-registrations'];
  for (const id of [...shown, '#instances-list', '#audit-body']) $(id).replaceChildren();
  show($('#key-details'), false);
  renderSession();
  setError($('#signin-error'), reason);
  route();
}

function renderSession() {
  const signedIn = Boolean(session.token);
  show($('#nav'), signedIn);
  show($('#session'), signedIn);
  const who = session.claims?.sub || session.claims?.iam_id || '';
  $('#whoami').textContent = who ? `Signed in as ${who}` : '';
  $('#whoami').title = who;
  const select = $('#kms-instance');
  select.replaceChildren(
    ...session.kmsInstances.map((i) => h('option', { value: i.guid }, `${i.name} · ${shortId(i.guid)}`)),
  );
  if (session.kmsInstance) select.value = session.kmsInstance;
}

/**
 * The account's instances: KMS ones for the header, configuration ones for their protection.
 * A caller who may not list them (no IAM role on the account) works with the KMS instance named
 * at sign-in and the configuration instances it is entitled to.
 */
async function loadInstances() {
  let all;
  try {
    all = (await api('GET', '/v2/resource_instances'))?.resources || [];
    session.instancesNote = '';
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 403) throw error;
    all = await entitledInstances();
    session.instancesNote = `The account’s instances cannot be listed with your roles (${error.message}).`;
  }
  session.kmsInstances = all.filter((i) => i.service === 'kms');
  session.configInstances = all.filter((i) => i.service === 'configsvc');
  const given = session.givenKmsInstance;
  if (given && !session.kmsInstances.some((i) => i.guid === given)) {
    session.kmsInstances.unshift({ guid: given, name: 'named at sign-in', service: 'kms' });
  }
  const still = session.kmsInstances.some((i) => i.guid === session.kmsInstance);
  if (!still) session.kmsInstance = given || session.kmsInstances[0]?.guid || null;
}

/** The configuration instances the caller may read, when it may not list the account's. */
async function entitledInstances() {
  const answer = await api('GET', '/v1/entitlements').catch(() => null);
  const mine = answer?.entitlements?.ai_openscale || [];
  return mine.map((i) => ({ guid: i.id, name: i.name, service: 'configsvc' }));
}

function kmsInstanceName() {
  const found = session.kmsInstances.find((i) => i.guid === session.kmsInstance);
  return found ? `${found.name} (${found.guid})` : session.kmsInstance || 'none';
}

// ------------------------------------------------------------------ routing

const VIEWS = { keys: loadKeys, instances: loadInstancesView, audit: loadAudit };

let shownView = null;

function route() {
  const wanted = location.hash.replace('#', '');
  const view = session.token ? (VIEWS[wanted] ? wanted : 'keys') : 'signin';
  for (const name of ['signin', ...Object.keys(VIEWS)]) {
    show($(`#view-${name}`), name === view);
  }
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.view === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (view !== 'instances') stopAllWatches();
  if (view !== shownView) dismissNotice();
  shownView = view;
  if (view === 'signin') {
    $('#apikey').focus();
    return;
  }
  if (!session.kmsInstance && view === 'keys') {
    const hint = 'Sign in again with the KMS instance ID (under “Options”).';
    setError($('#keys-error'), `${session.instancesNote || 'No KMS instance is visible to you.'} ${hint}`);
    return;
  }
  VIEWS[view]();
}

// ------------------------------------------------------------------ keys

async function loadKeys() {
  const load = ++keysView.load;
  const status = $('#keys-status');
  setError($('#keys-error'), '');
  setStatus(status, 'Loading keys…');
  try {
    const state = $('#key-state').value;
    const [list, rings] = await Promise.all([
      kmsGet(`/api/v2/keys?limit=${KEY_LIST_LIMIT}&state=${encode(state)}`),
      kmsGet('/api/v2/key_rings'),
    ]);
    if (load !== keysView.load) return;
    keysView.keys = list?.resources || [];
    keysView.rings = (rings?.resources || []).map((r) => r.id);
    renderRingFilter();
    renderKeys();
    if (keysView.selected) await loadKeyDetails(keysView.selected);
  } catch (error) {
    if (load !== keysView.load || !session.token) return;
    setStatus(status, '');
    show($('#keys-table'), false);
    setError($('#keys-error'), messageOf(error));
  }
}

function renderRingFilter() {
  const select = $('#key-ring');
  const current = select.value;
  const count = (ring) => keysView.keys.filter((k) => k.keyRingID === ring).length;
  select.replaceChildren(
    h('option', { value: '' }, `All key rings (${keysView.rings.length})`),
    ...keysView.rings.map((ring) => h('option', { value: ring }, `${ring} (${count(ring)} keys)`)),
  );
  select.value = keysView.rings.includes(current) ? current : '';
  $('#new-key-ring').replaceChildren(...keysView.rings.map((ring) => h('option', { value: ring }, ring)));
}

function visibleKeys() {
  const ring = $('#key-ring').value;
  const search = $('#key-search').value.trim().toLowerCase();
  return keysView.keys.filter((key) => {
    if (ring && key.keyRingID !== ring) return false;
    if (!search) return true;
    const haystack = [key.name, key.id, ...(key.aliases || [])].join(' ').toLowerCase();
    return haystack.includes(search);
  });
}

function renderKeys() {
  const keys = visibleKeys();
  const status = $('#keys-status');
  const filtered = keys.length !== keysView.keys.length;
  $('#keys-body').replaceChildren(...keys.map(keyRow));
  show($('#keys-table'), keys.length > 0);
  if (keysView.keys.length === 0) {
    setStatus(status, 'No keys here yet. “Create key” makes a root key to protect your data.');
  } else if (keys.length === 0) {
    setStatus(status, 'No key matches the search or the key ring chosen.');
  } else {
    const capped = keysView.keys.length >= KEY_LIST_LIMIT ? ` (the first ${KEY_LIST_LIMIT})` : '';
    const all = keysView.keys.length;
    setStatus(status, filtered ? `${keys.length} of ${all} keys` : `${keys.length} keys${capped}`);
  }
}

function keyRow(key) {
  const selected = key.id === keysView.selected;
  const open = h(
    'button',
    {
      type: 'button',
      class: 'link',
      'aria-current': selected ? 'true' : null,
      onclick: () => selectKey(key.id),
    },
    key.name,
  );
  return h(
    'tr',
    { class: selected ? 'selected' : null, 'data-key-id': key.id },
    h('td', {}, open, h('div', { class: 'muted mono' }, key.id)),
    h('td', {}, (key.aliases || []).join(', ')),
    h('td', {}, stateBadge(key.state)),
    h('td', {}, key.extractable ? 'Standard' : 'Root'),
    h('td', {}, key.keyRingID || 'default'),
    dateCell(key.creationDate),
    dateCell(key.lastRotateDate),
  );
}

function selectKey(id) {
  keysView.selected = id;
  renderKeys();
  loadKeyDetails(id);
}

async function loadKeyDetails(id) {
  const panel = $('#key-details');
  const load = keysView.load;
  show(panel);
  setError($('#key-details-error'), '');
  $('#key-details-title').textContent = 'Loading key…';
  const base = `/api/v2/keys/${encode(id)}`;
  // The metadata route never carries a standard key's material: the console has no use for it.
  const [meta, versions, registrations] = await Promise.allSettled([
    kmsGet(`${base}/metadata`),
    kmsGet(`${base}/versions?allKeyStates=true`),
    kmsGet(`${base}/registrations`),
  ]);
  if (load !== keysView.load || keysView.selected !== id) return;
  if (meta.status === 'rejected') {
    $('#key-details-title').textContent = 'Key';
    $('#key-actions').replaceChildren();
    $('#key-facts').replaceChildren();
    setError($('#key-details-error'), messageOf(meta.reason));
    return;
  }
  const key = meta.value.resources[0];
  const regs = registrations.status === 'fulfilled' ? registrations.value?.resources || [] : null;
  $('#key-details-title').textContent = key.name;
  $('#key-actions').replaceChildren(...keyActions(key, regs));
  $('#key-facts').replaceChildren(...keyFacts(key));
  $('#key-versions').replaceChildren(renderVersions(versions));
  $('#key-registrations').replaceChildren(renderRegistrations(registrations));
}

function fact(term, ...value) {
  return [h('dt', {}, term), h('dd', {}, ...value)];
}

function keyFacts(key) {
  const copy = h(
    'button',
    { type: 'button', class: 'button-small', onclick: () => copyText(key.crn, 'CRN') },
    'Copy',
  );
  return [
    fact('ID', code(key.id)),
    fact('CRN', code(key.crn), ' ', copy),
    fact('State', stateBadge(key.state)),
    fact('Type', key.extractable ? 'Standard key' : 'Root key', key.imported ? ' (imported)' : ''),
    fact('Algorithm', [key.algorithmType, key.algorithmBitSize, key.algorithmMode].filter(Boolean).join(' ')),
    fact('Key ring', key.keyRingID || 'default'),
    fact('Aliases', (key.aliases || []).join(', ') || '—'),
    key.description ? fact('Description', key.description) : [],
    fact('Created', `${formatDate(key.creationDate)} by `, code(key.createdBy || '?')),
    fact('Last rotated', formatDate(key.lastRotateDate) || 'never'),
    fact('Current version', code(key.keyVersion?.id || '—')),
  ].flat();
}

function renderVersions(result) {
  if (result.status === 'rejected') return h('p', { class: 'error' }, messageOf(result.reason));
  const versions = result.value?.resources || [];
  if (versions.length === 0) return h('p', { class: 'muted' }, 'No versions.');
  return h(
    'ol',
    { class: 'plain-list', 'aria-label': 'Versions, newest first' },
    versions.map((v, i) =>
      h(
        'li',
        {},
        code(v.id),
        h(
          'div',
          { class: 'muted' },
          `made ${formatDate(v.creationDate)}`,
          i === 0 ? h('span', { class: 'badge' }, 'current') : null,
        ),
      ),
    ),
  );
}

function renderRegistrations(result) {
  if (result.status === 'rejected') return h('p', { class: 'error' }, messageOf(result.reason));
  const regs = result.value?.resources || [];
  if (regs.length === 0) return h('p', { class: 'muted' }, 'No service has registered a use of this key.');
  return h(
    'ul',
    { class: 'plain-list' },
    regs.map((r) =>
      h(
        'li',
        {},
        registrantName(r.resourceCrn),
        code(r.resourceCrn),
        h(
          'div',
          { class: 'muted' },
          `${r.description || 'registered'} · since ${formatDate(r.creationDate)}`,
          r.preventKeyDeletion ? ' · prevents deletion' : '',
        ),
      ),
    ),
  );
}

/** The configuration instance behind a registration's CRN, when it is one of those listed. */
function registrantName(crn) {
  const instance = session.configInstances.find((i) => i.crn === crn);
  return instance ? h('div', {}, 'Configuration instance ', h('strong', {}, instance.name)) : null;
}

/** The state changes a key allows (Key Protect rotates, disables and enables root keys only). */
function keyActions(key, registrations) {
  if (key.extractable) {
    return [h('p', { class: 'muted' }, 'A standard key has no rotation and cannot be disabled.')];
  }
  const users = registrations === null ? 'unknown' : registrations.length;
  const buttons = [];
  if (key.state === 1 && !key.imported) buttons.push(actionButton('Rotate…', () => rotateKey(key)));
  if (key.state === 1) {
    buttons.push(actionButton('Disable…', () => disableKey(key, users), 'button-danger'));
  }
  if (key.state === 2) buttons.push(actionButton('Enable…', () => enableKey(key)));
  if (buttons.length === 0) buttons.push(h('p', { class: 'muted' }, 'No action for a key in this state.'));
  if (key.state === 1 && key.imported) {
    const how = 'An imported key rotates with new material: keyward keys import --rotate.';
    buttons.push(h('p', { class: 'muted' }, how));
  }
  return buttons;
}

function actionButton(label, onclick, extra = '') {
  return h('button', { type: 'button', class: extra || null, onclick }, label);
}

async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    notify(`${what} copied.`);
  } catch {
    notify(`Copying is not allowed here; select the ${what} and copy it by hand.`);
  }
}

async function rotateKey(key) {
  const ok = await confirmAction({
    title: 'Rotate key?',
    body: [
      ['A new version of ', h('strong', {}, key.name), ' is made and used for every new wrap.'],
      'Data wrapped with older versions still unwraps. A root key can be rotated once per hour.',
    ],
    confirmLabel: 'Rotate',
  });
  if (ok) await keyAction(key, 'rotate', `Key “${key.name}” rotated: new wraps use its new version.`);
}

async function disableKey(key, users) {
  const ok = await confirmAction({
    title: 'Disable key?',
    body: [
      ['Nothing can wrap or unwrap with ', h('strong', {}, key.name), ' while it is disabled.'],
      `Services that use it (registrations: ${users}) lose access to the data it protects ` +
        'until it is enabled again, which is possible after 30 seconds.',
    ],
    confirmLabel: 'Disable',
    danger: true,
  });
  if (ok) await keyAction(key, 'disable', `Key “${key.name}” disabled.`);
}

async function enableKey(key) {
  const ok = await confirmAction({
    title: 'Enable key?',
    body: [['Services can use ', h('strong', {}, key.name), ' again to wrap and unwrap.']],
    confirmLabel: 'Enable',
  });
  if (ok) await keyAction(key, 'enable', `Key “${key.name}” enabled.`);
}

async function keyAction(key, action, done) {
  setError($('#key-details-error'), '');
  try {
    await api('POST', `/api/v2/keys/${encode(key.id)}/actions/${action}`, { kms: true });
    notify(done);
    await loadKeys();
  } catch (error) {
    setError($('#key-details-error'), `Could not ${action}: ${messageOf(error)}`);
  }
}

// ------------------------------------------------------------------ create key

function openCreateKey() {
  const dialog = $('#create-key-dialog');
  $('#create-key-form').reset();
  $('#new-key-ring').value = $('#key-ring').value || 'default';
  setError($('#create-key-error'), '');
  dialog.showModal();
  $('#new-key-name').focus();
}

function aliasesFrom(text) {
  return text.split(/[\s,]+/).map((a) => a.trim()).filter(Boolean);
}

async function createKey(event) {
  event.preventDefault();
  const name = $('#new-key-name').value.trim();
  const errorEl = $('#create-key-error');
  if (!name) {
    setError(errorEl, 'Give the key a name.');
    $('#new-key-name').focus();
    return;
  }
  const resource = {
    type: KEY_TYPE,
    name,
    extractable: document.querySelector('input[name="new-key-type"]:checked').value === 'standard',
  };
  const aliases = aliasesFrom($('#new-key-aliases').value);
  if (aliases.length) resource.aliases = aliases;
  const description = $('#new-key-description').value.trim();
  if (description) resource.description = description;
  const body = { metadata: { collectionType: KEY_TYPE, collectionTotal: 1 }, resources: [resource] };
  const button = $('#create-key-ok');
  button.disabled = true;
  setError(errorEl, '');
  try {
    const ring = $('#new-key-ring').value || 'default';
    const made = await api('POST', '/api/v2/keys', { body, kms: true, headers: { 'x-kms-key-ring': ring } });
    const key = made.resources[0];
    $('#create-key-dialog').close();
    $('#key-search').value = '';
    $('#key-ring').value = '';
    keysView.selected = key.id;
    notify(`Key “${key.name}” created.`);
    await loadKeys();
  } catch (error) {
    setError(errorEl, messageOf(error));
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ confirmation dialog

/**
 * Asks for confirmation in the page's own dialog. `body` is a list of paragraphs, each a string
 * or a list of strings and nodes. Resolves to true when confirmed.
 */
function confirmAction({ title, body, confirmLabel, danger = false }) {
  const dialog = $('#confirm-dialog');
  const form = $('#confirm-form');
  const ok = $('#confirm-ok');
  const cancel = $('#confirm-cancel');
  $('#confirm-title').textContent = title;
  $('#confirm-body').replaceChildren(...body.map((p) => h('p', {}, ...[].concat(p))));
  ok.textContent = confirmLabel;
  ok.className = danger ? 'button-danger' : 'button-primary';
  return new Promise((resolve) => {
    const finish = (answer) => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      finish(true);
    };
    const onCancel = (event) => {
      event.preventDefault();
      finish(false);
    };
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    cancel.focus();
  });
}

// ------------------------------------------------------------------ configuration instances

async function loadInstancesView() {
  const load = ++instancesView.load;
  const status = $('#instances-status');
  setError($('#instances-error'), '');
  setStatus(status, 'Loading configuration instances…');
  try {
    await loadInstances();
    renderSession();
    const [keys] = await Promise.all([
      session.kmsInstance
        ? kmsGet(`/api/v2/keys?limit=${KEY_LIST_LIMIT}&state=0,1,2,3,5`).catch(() => null)
        : null,
      loadAuthorization(),
    ]);
    instancesView.keys = keys?.resources || [];
    const answers = await Promise.allSettled(
      session.configInstances.map((i) => api('GET', preferencesPath(i.guid))),
    );
    if (load !== instancesView.load) return;
    session.configInstances.forEach((instance, n) => {
      const state = stateOf(instance);
      state.instance = instance;
      state.completed = null; // a finished switch is announced to the view that followed it only
      state.protection = answers[n].status === 'fulfilled' ? answers[n].value.key_protection : null;
      state.error = answers[n].status === 'rejected' ? messageOf(answers[n].reason) : '';
      if (state.protection?.switching_to) watch(instance.guid);
    });
    const none = session.configInstances.length === 0 ? 'There is no configuration instance to show.' : '';
    setStatus(status, [session.instancesNote, none].filter(Boolean).join(' '));
    renderInstances();
  } catch (error) {
    if (load !== instancesView.load || !session.token) return;
    setStatus(status, '');
    setError($('#instances-error'), messageOf(error));
  }
}

function preferencesPath(guid) {
  return `/openscale/${encode(guid)}/v2/user_preferences`;
}

function stateOf(instance) {
  if (!instancesView.states.has(instance.guid)) {
    instancesView.states.set(instance.guid, {
      instance,
      protection: null,
      error: '',
      completed: null, // the last switch this page followed to its end: {total, root}
      watchedTotal: null,
      shown: null,
    });
  }
  return instancesView.states.get(instance.guid);
}

/** The key behind a CRN, when it is one of the selected KMS instance's. */
function keyLabel(crn) {
  if (!crn || crn === 'global') return 'the service’s global key';
  const key = instancesView.keys.find((k) => k.crn === crn);
  if (!key) return crn;
  const aliases = key.aliases?.length ? ` (${key.aliases.join(', ')})` : '';
  return `root key “${key.name}”${aliases}`;
}

function renderInstances() {
  const cards = session.configInstances.map((i) => instanceCard(instancesView.states.get(i.guid)));
  $('#instances-list').replaceChildren(...cards);
}

/** Redraws one instance's card when what it shows changed (so that focus is not lost). */
function renderInstance(guid) {
  const state = instancesView.states.get(guid);
  const old = document.querySelector(`[data-instance="${CSS.escape(guid)}"]`);
  if (!state || !old) return;
  if (shownOf(state) === state.shown) return;
  old.replaceWith(instanceCard(state));
}

/** What a card shows, to tell whether it must be drawn again. */
function shownOf(state) {
  return JSON.stringify([state.protection, state.error, state.completed]);
}

function instanceCard(state) {
  const { instance, protection, error } = state;
  state.shown = shownOf(state);
  const card = h(
    'article',
    {
      class: 'card instance',
      'data-instance': instance.guid,
      'aria-labelledby': `title-${instance.guid}`,
    },
    h(
      'h2',
      { id: `title-${instance.guid}` },
      instance.name,
      ' ',
      h('span', { class: 'muted mono' }, instance.guid),
    ),
  );
  if (protection) card.append(...protectionLines(state));
  if (error) card.append(h('p', { class: 'error', role: 'alert' }, error));
  const switching = Boolean(protection?.switching_to);
  const customer = protection && (protection.root_key !== 'global' || switching);
  card.append(
    h(
      'div',
      { class: 'actions' },
      actionButton('Set root key…', () => openRootKeyDialog(instance)),
      customer ? actionButton('Use the global key…', () => removeRootKey(instance)) : null,
    ),
  );
  return card;
}

function protectionLines(state) {
  const p = state.protection;
  const current = h('p', { class: 'protection' }, 'Protected by ', h('strong', {}, keyLabel(p.root_key)));
  const lines = [current];
  if (p.root_key !== 'global') lines.push(h('p', { class: 'muted mono' }, p.root_key));
  if (p.switching_to) lines.push(progressBlock(state, p));
  else if (state.completed) lines.push(completedBlock(state.completed));
  return lines;
}

function progressBlock(state, p) {
  const done = p.progress?.done ?? 0;
  const total = p.progress?.total ?? 0;
  const paused = p.state === 'paused';
  const bar = h('progress', {
    max: Math.max(total, 1),
    'aria-label': `Re-encryption of ${state.instance.name}`,
    'aria-valuetext': `${done} of ${total} fields`,
  });
  if (total > 0) bar.value = done;
  return h(
    'div',
    { class: `progress-block${paused ? ' paused' : ''}`, 'data-progress': paused ? 'paused' : 'running' },
    h('p', {}, 'Re-encrypting every secret under ', h('strong', {}, keyLabel(p.switching_to))),
    bar,
    h(
      'p',
      { class: 'progress-text' },
      h('span', { class: 'progress-count' }, `${done} / ${total} fields`),
      ' · ',
      h('span', { class: 'progress-state' }, paused ? 'Paused' : 'Running'),
    ),
    paused ? h('p', { class: 'warning' }, `Paused: ${p.reason || 'no reason given'}`) : null,
  );
}

function completedBlock(completed) {
  const total = completed.total;
  const bar = h('progress', { max: Math.max(total || 1, 1), 'aria-label': 'Re-encryption complete' });
  bar.value = Math.max(total || 1, 1);
  const counted = total !== null && total !== undefined;
  return h(
    'div',
    { class: 'progress-block complete', 'data-progress': 'complete' },
    h('p', {}, 'Every secret is now under ', h('strong', {}, keyLabel(completed.root))),
    bar,
    h(
      'p',
      { class: 'progress-text' },
      counted ? h('span', { class: 'progress-count' }, `${total} / ${total} fields`) : null,
      counted ? ' · ' : null,
      h('span', { class: 'progress-state' }, 'Complete'),
    ),
  );
}

// Following a switch: poll the instance's protection until no switch is under way.

function watch(guid) {
  if (instancesView.timers.has(guid)) return;
  const epoch = session.epoch;
  const tick = async () => {
    const state = instancesView.states.get(guid);
    if (!state || epoch !== session.epoch) return;
    try {
      const answer = await api('GET', preferencesPath(guid));
      if (epoch !== session.epoch || !instancesView.timers.has(guid)) return;
      followed(state, answer.key_protection);
    } catch (error) {
      state.error = messageOf(error);
    }
    renderInstance(guid);
    if (state.protection?.switching_to && instancesView.timers.has(guid)) {
      instancesView.timers.set(guid, setTimeout(tick, POLL_INTERVAL_MS));
    } else {
      instancesView.timers.delete(guid);
    }
  };
  instancesView.timers.set(guid, setTimeout(tick, POLL_INTERVAL_MS));
}

function followed(state, protection) {
  const was = state.protection;
  if (protection.progress?.total !== undefined) state.watchedTotal = protection.progress.total;
  state.protection = protection;
  state.error = '';
  if (was?.switching_to && !protection.switching_to) {
    state.completed = { total: state.watchedTotal, root: protection.root_key };
    notify(`${state.instance.name} is now protected by ${keyLabel(protection.root_key)}.`);
  }
}

function stopAllWatches() {
  for (const timer of instancesView.timers.values()) clearTimeout(timer);
  instancesView.timers.clear();
}

// Service authorization: may the configuration service use the selected KMS instance's keys?

function isConfigsvcGrant(policy, kmsInstance) {
  const attrs = (list) => Object.fromEntries((list?.[0]?.attributes || []).map((a) => [a.name, a.value]));
  const subject = attrs(policy.subjects);
  const resource = attrs(policy.resources);
  return (
    policy.type === 'authorization' &&
    subject.serviceName === 'configsvc' &&
    resource.serviceName === 'kms' &&
    (!resource.serviceInstance || resource.serviceInstance === kmsInstance)
  );
}

function roleName(roleId) {
  return String(roleId).split(':').pop();
}

async function loadAuthorization() {
  const text = $('#authorization-text');
  const button = $('#authorize-configsvc');
  setError($('#authorization-error'), '');
  show(button, false);
  if (!session.kmsInstance) {
    instancesView.authorization = null;
    setStatus(text, 'Choose a KMS instance to see whether the configuration service may use its keys.');
    return;
  }
  setStatus(text, 'Checking the service authorization…');
  try {
    const listed = await api('GET', '/v1/policies');
    const grants = (listed?.policies || []).filter((p) => isConfigsvcGrant(p, session.kmsInstance));
    instancesView.authorization = grants.length > 0;
    renderAuthorization(grants);
  } catch (error) {
    instancesView.authorization = null;
    setStatus(
      text,
      'Whether the configuration service may use your keys is unknown: ' +
        'you cannot read the account’s policies.',
    );
    setError($('#authorization-error'), messageOf(error));
  }
}

function renderAuthorization(grants) {
  const text = $('#authorization-text');
  const name = kmsInstanceName();
  if (grants.length === 0) {
    setStatus(
      text,
      `Not authorized: the configuration service may not use the keys of KMS instance ${name}, ` +
        'so none of them can be an instance’s root key yet.',
    );
    show($('#authorize-configsvc'));
    return;
  }
  const describe = (p) => {
    const subject = (p.subjects[0].attributes || []).find((a) => a.name === 'serviceInstance');
    const who = subject
      ? `configuration instance ${subject.value}`
      : 'every configuration instance of the account';
    return `${who} as ${p.roles.map((r) => roleName(r.role_id)).join(', ')}`;
  };
  setStatus(
    text,
    `Authorized: the configuration service may use the keys of KMS instance ${name} ` +
      `for ${grants.map(describe).join('; ')}.`,
  );
}

async function authorizeConfigsvc() {
  const ok = await confirmAction({
    title: 'Authorize the configuration service?',
    body: [
      [
        'The configuration service gets the ',
        h('strong', {}, 'Reader'),
        ' role on KMS instance ',
        h('strong', {}, kmsInstanceName()),
        ' for every configuration instance of this account.',
      ],
      'With it the service can wrap, unwrap and register its use of these keys; it cannot ' +
        'create, rotate, disable or delete them. An administrator can delete the policy later ' +
        '(IAM policies).',
    ],
    confirmLabel: 'Authorize',
  });
  if (!ok) return;
  const body = {
    type: 'authorization',
    subjects: [{ attributes: [{ name: 'serviceName', value: 'configsvc' }] }],
    roles: [{ role_id: 'crn:v1:bluemix:public:iam::::serviceRole:Reader' }],
    resources: [
      {
        attributes: [
          { name: 'serviceName', value: 'kms' },
          { name: 'serviceInstance', value: session.kmsInstance },
        ],
      },
    ],
  };
  try {
    await api('POST', '/v1/policies', { body });
    notify('The configuration service may now use the keys of this KMS instance.');
    await loadAuthorization();
  } catch (error) {
    setError($('#authorization-error'), `Could not authorize: ${messageOf(error)}`);
  }
}

// Setting and removing the root key.

let rootKeyTarget = null;

function openRootKeyDialog(instance) {
  rootKeyTarget = instance;
  const candidates = instancesView.keys.filter((k) => k.state === 1 && !k.extractable);
  const select = $('#root-key-select');
  select.replaceChildren(
    ...candidates.map((k) => h('option', { value: k.crn }, rootKeyOption(k))),
    h('option', { value: '' }, 'Another key, by its CRN…'),
  );
  select.value = candidates[0]?.crn || '';
  $('#root-key-crn').value = '';
  syncCrnField();
  $('#root-key-explain').replaceChildren(
    'Every secret of ', h('strong', {}, instance.name), ' is re-encrypted under the key you choose. ',
    'If that key is later disabled or deleted, the instance can no longer read its secrets.',
  );
  const warning = instancesView.authorization === false
    ? `The configuration service is not authorized to use the keys of KMS instance ${kmsInstanceName()}: ` +
      'the change will be refused until it is (Service authorization, above).'
    : '';
  $('#root-key-warning').textContent = warning;
  show($('#root-key-warning'), Boolean(warning));
  setError($('#root-key-error'), '');
  $('#root-key-dialog').showModal();
  select.focus();
}

function rootKeyOption(key) {
  const aliases = key.aliases?.length ? ` (${key.aliases.join(', ')})` : '';
  return `${key.name}${aliases} · ${shortId(key.id)}`;
}

function syncCrnField() {
  const byCrn = $('#root-key-select').value === '';
  show($('#root-key-crn'), byCrn);
  show($('#root-key-crn-label'), byCrn);
}

async function setRootKey(event) {
  event.preventDefault();
  const instance = rootKeyTarget;
  const crn = $('#root-key-select').value || $('#root-key-crn').value.trim();
  const errorEl = $('#root-key-error');
  if (!crn) {
    setError(errorEl, 'Choose a key, or enter a key CRN.');
    return;
  }
  const button = $('#root-key-ok');
  button.disabled = true;
  setError(errorEl, '');
  try {
    const path = `${preferencesPath(instance.guid)}/${ROOT_KEY_PREF}`;
    const answer = await api('PUT', path, { body: { [ROOT_KEY_PREF]: crn } });
    $('#root-key-dialog').close();
    startFollowing(instance, answer.key_protection, `Re-encrypting ${instance.name} under ${keyLabel(crn)}…`);
  } catch (error) {
    setError(errorEl, messageOf(error));
  } finally {
    button.disabled = false;
  }
}

async function removeRootKey(instance) {
  const ok = await confirmAction({
    title: 'Go back to the global key?',
    body: [
      [
        'Every secret of ',
        h('strong', {}, instance.name),
        ' is re-encrypted under the service’s global key.',
      ],
      'Your root key then no longer protects this instance.',
    ],
    confirmLabel: 'Use the global key',
    danger: true,
  });
  if (!ok) return;
  const state = stateOf(instance);
  try {
    const answer = await api('DELETE', `${preferencesPath(instance.guid)}/${ROOT_KEY_PREF}`);
    startFollowing(instance, answer.key_protection, `Re-encrypting ${instance.name} under the global key…`);
  } catch (error) {
    state.error = `Could not go back to the global key: ${messageOf(error)}`;
    renderInstance(instance.guid);
  }
}

function startFollowing(instance, protection, message) {
  const state = stateOf(instance);
  state.completed = null;
  state.watchedTotal = protection.progress?.total ?? null;
  // A switch seen as already finished (nothing to re-encrypt) still shows as one that completed.
  state.protection = protection.switching_to
    ? protection
    : { ...protection, switching_to: protection.root_key };
  state.error = '';
  notify(message);
  renderInstance(instance.guid);
  watch(instance.guid);
}

// ------------------------------------------------------------------ audit events

/**
 * Reads the events after the last one read (the API pages oldest first), keeps the newest
 * AUDIT_KEPT and shows them newest first.
 */
async function loadAudit() {
  const load = ++auditView.load;
  const status = $('#audit-status');
  setError($('#audit-error'), '');
  setStatus(status, 'Loading audit events…');
  try {
    for (;;) {
      const page = await api('GET', `/api/v2/audit/events?start=${auditView.cursor}&limit=${AUDIT_PAGE}`);
      if (load !== auditView.load) return;
      const events = page?.resources || [];
      auditView.events = auditView.events.concat(events).slice(-AUDIT_KEPT);
      auditView.read += events.length;
      auditView.cursor = page?.metadata?.next ?? auditView.cursor;
      if (events.length < AUDIT_PAGE) break;
      setStatus(status, `Loading audit events… ${auditView.read} read`);
    }
    renderAudit();
  } catch (error) {
    if (load !== auditView.load || !session.token) return;
    setStatus(status, '');
    setError($('#audit-error'), messageOf(error));
  }
}

function visibleEvents() {
  const search = $('#audit-search').value.trim().toLowerCase();
  const failuresOnly = $('#audit-failures').checked;
  return auditView.events
    .slice()
    .reverse()
    .filter(({ event }) => {
      if (failuresOnly && event.outcome !== 'failure') return false;
      if (!search) return true;
      const haystack = [event.action, event.initiator?.id, event.target?.id, event.correlationId].join(' ');
      return haystack.toLowerCase().includes(search);
    });
}

function renderAudit() {
  const events = visibleEvents();
  const shown = events.slice(0, AUDIT_SHOWN);
  $('#audit-body').replaceChildren(...shown.map(auditRow));
  show($('#audit-table'), shown.length > 0);
  setStatus($('#audit-status'), auditSummary(events.length, shown.length));
}

function auditSummary(matching, shown) {
  if (auditView.events.length === 0) return 'No audit events yet.';
  if (matching === 0) return 'No event matches the filter.';
  const kept = auditView.read > AUDIT_KEPT ? `; the newest ${AUDIT_KEPT} kept` : '';
  return `The newest ${shown} of ${matching} matching events (${auditView.read} read${kept}).`;
}

function auditRow({ seq, event }) {
  const failed = event.outcome === 'failure';
  return h(
    'tr',
    { 'data-seq': seq, class: failed ? 'failed' : null },
    h('td', { class: 'nowrap' }, formatDate(event.eventTime)),
    h('td', { class: 'nowrap' }, code(event.action)),
    h('td', {}, h('span', { class: `badge badge-${failed ? 'failure' : 'success'}` }, event.outcome)),
    h('td', {}, `${event.reason?.reasonCode ?? ''} ${event.reason?.reasonType ?? ''}`.trim()),
    h('td', { class: 'mono wrap' }, event.initiator?.id || '(anonymous)'),
    h('td', { class: 'mono' }, event.initiator?.host?.address || ''),
    h('td', { class: 'mono wrap', title: event.target?.id || null }, crnSummary(event.target?.id)),
  );
}

/**
 * `crn:v1:<cname>:<ctype>:<service>:<region>:a/<account>:<instance>:<type>:<resource>` in a few
 * words (`kms 97e6f1a3… key 84d3b20f…`); the full CRN is the cell's tooltip.
 */
function crnSummary(crn) {
  if (!crn) return '—';
  const parts = crn.split(':');
  if (parts[0] !== 'crn' || parts.length < 10) return crn;
  const [service, , , instance, type, resource] = parts.slice(4);
  const words = [service || 'account'];
  if (instance) words.push(shortId(instance));
  if (type) words.push(type);
  if (resource) words.push(resource.length > 12 ? shortId(resource) : resource);
  return words.join(' ');
}

// ------------------------------------------------------------------ start

function bind(selector, type, handler) {
  $(selector).addEventListener(type, handler);
}

function start() {
  bind('#signin-form', 'submit', signIn);
  bind('#sign-out', 'click', () => signOut());
  bind('#notice-close', 'click', dismissNotice);
  bind('#kms-instance', 'change', (event) => {
    session.kmsInstance = event.target.value;
    keysView.selected = null;
    show($('#key-details'), false);
    route();
  });
  bind('#keys-refresh', 'click', loadKeys);
  bind('#key-state', 'change', loadKeys);
  bind('#key-ring', 'change', renderKeys);
  bind('#key-search', 'input', renderKeys);
  bind('#create-key', 'click', openCreateKey);
  bind('#create-key-form', 'submit', createKey);
  bind('#create-key-cancel', 'click', () => $('#create-key-dialog').close());
  bind('#instances-refresh', 'click', loadInstancesView);
  bind('#authorize-configsvc', 'click', authorizeConfigsvc);
  bind('#root-key-select', 'change', syncCrnField);
  bind('#root-key-form', 'submit', setRootKey);
  bind('#root-key-cancel', 'click', () => $('#root-key-dialog').close());
  bind('#audit-refresh', 'click', loadAudit);
  bind('#audit-search', 'input', renderAudit);
  bind('#audit-failures', 'change', renderAudit);
  window.addEventListener('hashchange', route);
  route();
}

start();
