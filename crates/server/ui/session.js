// The signed-in session: sign in and out, the token kept fresh, the instances the caller sees.
// The API key and the access token live in this module's memory only (never in localStorage,
// sessionStorage or cookies, never logged): a reload signs out.

import { ApiError, api, decodeClaims, messageOf, requestToken, useSession } from './api.js';
import { $, h, setError, shortId, show } from './dom.js';

const REFRESH_MARGIN_MS = 60_000;

export const session = {
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

/**
 * What the page does once the session started or ended (app.js sets it: the views and the
 * navigation are its business). `signedOut` makes every view forget what it shows.
 */
let transitions = { signedIn() {}, signedOut() {} };

export function onSessionChange(handlers) {
  transitions = handlers;
}

// ------------------------------------------------------------------ tokens

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

useSession({
  epoch: () => session.epoch,
  kmsInstance: () => session.kmsInstance,
  token: validToken,
});

// ------------------------------------------------------------------ sign in and out

export async function signIn(event) {
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
    transitions.signedIn();
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
export function signOut(reason = '') {
  session.epoch += 1;
  Object.assign(session, { apikey: null, token: null, expiresAt: 0, claims: null });
  Object.assign(session, { kmsInstances: [], configInstances: [], kmsInstance: null });
  Object.assign(session, { givenKmsInstance: null, instancesNote: '' });
  renderSession();
  setError($('#signin-error'), reason);
  transitions.signedOut();
}

export function renderSession() {
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

// ------------------------------------------------------------------ instances

/**
 * The account's instances: KMS ones for the header, configuration ones for their protection.
 * A caller who may not list them (no IAM role on the account) works with the KMS instance named
 * at sign-in and the configuration instances it is entitled to.
 */
export async function loadInstances() {
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

export function kmsInstanceName() {
  const found = session.kmsInstances.find((i) => i.guid === session.kmsInstance);
  return found ? `${found.name} (${found.guid})` : session.kmsInstance || 'none';
}
