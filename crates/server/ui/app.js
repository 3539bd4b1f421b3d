// Keyward web console: plain ES2020 modules, no framework, no build step. This is the entry
// point (index.html loads it as a module): it wires the page's controls and shows one view at a
// time, chosen by the address's fragment.
//
// Modules: api.js (calls, tokens, errors), dom.js (element helpers, toast, confirmation dialog),
// session.js (sign in and out, the token kept fresh), keys.js, instances.js and audit.js (the views).
//
// Security rules every module keeps:
// - the API key and the access token live in session.js's memory only (never in localStorage,
//   sessionStorage or cookies, never logged): a reload signs out;
// - server data reaches the page through textContent and createElement only, never innerHTML;
// - no inline script or style: the page runs under a strict Content-Security-Policy.

import { forgetAudit, loadAudit, renderAudit } from './audit.js';
import { $, dismissNotice, setError, show } from './dom.js';
import {
  authorizeConfigsvc,
  forgetInstances,
  loadInstancesView,
  setRootKey,
  stopAllWatches,
  syncCrnField,
} from './instances.js';
import { closeKeyDetails, createKey, forgetKeys, loadKeys, openCreateKey, renderKeys } from './keys.js';
import { onSessionChange, session, signIn, signOut } from './session.js';

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

onSessionChange({
  signedIn() {
    if (!location.hash || location.hash === '#signin') location.hash = '#keys';
    else route();
  },
  signedOut() {
    forgetInstances();
    forgetKeys();
    forgetAudit();
    route();
  },
});

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
    closeKeyDetails();
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
