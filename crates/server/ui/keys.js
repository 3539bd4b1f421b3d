// The keys view: the KMS instance's keys, one key's details, its actions and key creation.

import { api, encode, kmsGet, messageOf } from './api.js';
import {
  $,
  actionButton,
  code,
  confirmAction,
  copyText,
  dateCell,
  formatDate,
  h,
  notify,
  setError,
  setStatus,
  show,
} from './dom.js';
import { session } from './session.js';

const KEY_TYPE = 'application/vnd.ibm.kms.key+json';
export const KEY_LIST_LIMIT = 1000;

const KEY_STATES = { 0: 'Pre-active', 1: 'Active', 2: 'Suspended', 3: 'Deactivated', 5: 'Destroyed' };

const keysView = { keys: [], rings: [], selected: null, load: 0 };

/** Closes the key details (another KMS instance was chosen). */
export function closeKeyDetails() {
  keysView.selected = null;
  show($('#key-details'), false);
}

/** Forgets every key shown (at sign-out). */
export function forgetKeys() {
  Object.assign(keysView, { keys: [], rings: [], selected: null });
  const shown = ['#keys-body', '#key-actions', '#key-facts', '#key-versions', '#key-registrations'];
  for (const id of shown) $(id).replaceChildren();
  show($('#key-details'), false);
}

// ------------------------------------------------------------------ list

function stateBadge(state) {
  const label = KEY_STATES[state] || `State ${state}`;
  return h('span', { class: `badge badge-state-${state}` }, label);
}

export async function loadKeys() {
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

export function renderKeys() {
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

// ------------------------------------------------------------------ details

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

// ------------------------------------------------------------------ actions

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

export function openCreateKey() {
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

export async function createKey(event) {
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
