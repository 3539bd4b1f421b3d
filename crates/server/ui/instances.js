// Configuration instances: how each is protected, the service authorization, setting and
// removing an instance's root key, and following the re-encryption that this starts.

import { api, encode, kmsGet, messageOf } from './api.js';
import { $, actionButton, confirmAction, h, notify, setError, setStatus, shortId, show } from './dom.js';
import { KEY_LIST_LIMIT } from './keys.js';
import { kmsInstanceName, loadInstances, renderSession, session } from './session.js';

const ROOT_KEY_PREF = 'user_root_key_crn';
const POLL_INTERVAL_MS = 500;

const instancesView = { states: new Map(), keys: [], authorization: null, timers: new Map(), load: 0 };

/** Forgets every instance shown and stops following their switches (at sign-out). */
export function forgetInstances() {
  stopAllWatches();
  instancesView.states.clear();
  instancesView.keys = [];
  instancesView.authorization = null;
  $('#instances-list').replaceChildren();
}

export async function loadInstancesView() {
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

export function stopAllWatches() {
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

export async function authorizeConfigsvc() {
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

export function syncCrnField() {
  const byCrn = $('#root-key-select').value === '';
  show($('#root-key-crn'), byCrn);
  show($('#root-key-crn-label'), byCrn);
}

export async function setRootKey(event) {
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
