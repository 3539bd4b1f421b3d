// The web console in a headless Chromium, against a running keyward (tests/ui/run.sh starts one),
// one step after another as a person would go: a wrong API key is refused; sign in, create a
// key, see a key disabled elsewhere as suspended, let the configuration service use the KMS
// instance's keys, make the key a configuration instance's root key and watch the re-encryption
// complete (and how a paused one looks), rotate the key through its confirmation, go back to the
// global key, see a hostile key name stay text, read the audit events, sign out; then sign in as
// a user who may only use the KMS instance, and see the session end when its API key is deleted.
// Each step is checked on the page and, where it changes state, through the HTTP API as well.
// The steps share one page and run in order: after a failed step the others are skipped.
//
// Env: KEYWARD_UI_URL, KEYWARD_UI_APIKEY (an administrator's), KEYWARD_UI_KMS_INSTANCE (optional),
//      KEYWARD_UI_SCREENSHOTS (where PNGs go; default a temp dir), CHROMIUM (the browser).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

const BASE = required('KEYWARD_UI_URL').replace(/\/+$/, '');
const APIKEY = required('KEYWARD_UI_APIKEY');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.KEYWARD_UI_SCREENSHOTS || fs.mkdtempSync(path.join(os.tmpdir(), 'keyward-ui-'));

const WAIT_MS = 10_000;
const SWITCH_WAIT_MS = 30_000;
const PROVIDERS = 60; // service providers given to the configuration instance
const FIELDS = PROVIDERS * 3; // each with three credential fields: url, username, password
const SUFFIX = crypto.randomBytes(4).toString('hex');
const KEY_NAME = `ui-root-${SUFFIX}`;
const ALIAS = `ui-alias-${SUFFIX}`;
const KEY_TYPE = 'application/vnd.ibm.kms.key+json';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the test with tests/ui/run.sh`);
  return value;
}

// ------------------------------------------------------------------ the HTTP API, from node

const api = {
  token: null,
  kmsInstance: null,

  async getToken() {
    if (this.token) return this.token;
    const res = await fetch(`${BASE}/identity/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'urn:ibm:params:oauth:grant-type:apikey', apikey: APIKEY }),
      signal: AbortSignal.timeout(WAIT_MS),
    });
    assert.equal(res.status, 200, 'the administrator API key gets a token');
    this.token = (await res.json()).access_token;
    return this.token;
  },

  /** The answer's body; fails the test on a status other than `expect`. */
  async call(method, urlPath, { body, kms = false, expect = [200, 201, 204] } = {}) {
    const headers = { authorization: `Bearer ${await this.getToken()}`, accept: 'application/json' };
    if (kms) headers['bluemix-instance'] = this.kmsInstance;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${BASE}${urlPath}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(WAIT_MS),
    });
    const text = await res.text();
    assert.ok(expect.includes(res.status), `${method} ${urlPath}: HTTP ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  },
};

function keyBody(name, { extractable = false } = {}) {
  return {
    metadata: { collectionType: KEY_TYPE, collectionTotal: 1 },
    resources: [{ type: KEY_TYPE, name, extractable }],
  };
}

/** Service providers with credentials: instance secrets for the re-encryption to move. */
async function giveSecrets(instance) {
  const providers = Array.from({ length: PROVIDERS }, (_, i) => i);
  const batch = 6;
  for (let i = 0; i < providers.length; i += batch) {
    await Promise.all(
      providers.slice(i, i + batch).map((n) =>
        api.call('POST', `/openscale/${instance}/v2/service_providers`, {
          body: {
            name: `ui-provider-${n}`,
            service_type: 'custom_machine_learning',
            credentials: {
              url: `https://ml-${n}.example`,
              username: `user-${n}`,
              password: `pw-${n}-${SUFFIX}`,
            },
          },
        }),
      ),
    );
  }
}

/** Whether an authorization lets the configuration service use the KMS instance's keys. */
async function configsvcAuthorized() {
  const { policies } = await api.call('GET', '/v1/policies');
  const attrs = (list) => Object.fromEntries((list?.[0]?.attributes || []).map((a) => [a.name, a.value]));
  return policies.some((p) => {
    const subject = attrs(p.subjects);
    const resource = attrs(p.resources);
    return (
      p.type === 'authorization' &&
      subject.serviceName === 'configsvc' &&
      resource.serviceName === 'kms' &&
      (!resource.serviceInstance || resource.serviceInstance === api.kmsInstance)
    );
  });
}

// ------------------------------------------------------------------ the browser

let browser;
let context;
let page;
const requests = [];
const pageErrors = [];
const cspViolations = [];
const shared = {}; // what one step hands the next: the key, the configuration instance

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium`);
  const { resources } = await api.call('GET', '/v2/resource_instances');
  api.kmsInstance =
    process.env.KEYWARD_UI_KMS_INSTANCE || resources.find((i) => i.service === 'kms')?.guid;
  assert.ok(api.kmsInstance, 'a KMS instance to work in');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
  });
});

after(async () => {
  await browser?.close();
  if (broken) console.log(`# screenshots, with failed.png, in ${SHOTS}`);
  else if (!process.env.KEYWARD_UI_SCREENSHOTS) fs.rmSync(SHOTS, { recursive: true, force: true });
});

const visible = (locator, timeout = WAIT_MS) => locator.waitFor({ state: 'visible', timeout });
const hidden = (locator) => locator.waitFor({ state: 'hidden' });
const shot = (name) => page.screenshot({ path: path.join(SHOTS, name) });

/** Nothing of the session may outlive the page: no storage, no cookie, no key in the DOM. */
async function assertNothingStored() {
  const stored = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length }));
  assert.deepEqual(stored, { local: 0, session: 0 }, 'nothing in web storage');
  assert.deepEqual(await context.cookies(), [], 'no cookie');
  assert.ok(!(await page.content()).includes(APIKEY), 'the API key is not left in the page');
}

// ------------------------------------------------------------------ the steps (in order)

let broken = null; // the first step that failed: the ones after it would only time out

/** A step of the session: skipped once an earlier one failed. */
function step(name, body) {
  test(name, async (t) => {
    if (broken) {
      t.skip(`after the failed step “${broken}”`);
      return;
    }
    try {
      await body();
    } catch (error) {
      broken = name;
      await page?.screenshot({ path: path.join(SHOTS, 'failed.png') }).catch(() => {});
      throw error;
    }
  });
}

step('a wrong API key shows the sign-in error and no data', async () => {
  const served = await page.goto(`${BASE}/ui/`);
  assert.equal(served.status(), 200, 'the console is served at /ui/');
  const csp = served.headers()['content-security-policy'] || '';
  const rules = ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"];
  for (const rule of rules) assert.ok(csp.includes(rule), `its Content-Security-Policy has ${rule}: ${csp}`);
  await visible(page.getByRole('heading', { name: 'Sign in' }));
  await shot('sign-in.png');
  const before = requests.length;
  await page.getByLabel('API key').fill(`kw_not-a-key-${SUFFIX}`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const error = page.locator('#signin-error');
  await visible(error.filter({ hasText: /^[A-Z][A-Z0-9_]+: \S/ }));
  const line = await error.innerText();
  assert.equal(line.split('\n').length, 1, `one line: ${line}`);
  assert.match(line, /BXNIM0415E/, 'the reason code of an unknown API key');
  assert.equal(await page.locator('#nav').isVisible(), false, 'no navigation');
  assert.equal(await page.locator('#view-keys').isVisible(), false, 'no keys view');
  const dataCalls = requests.slice(before).filter((p) => /^\/(api|v1|v2|openscale)\//.test(p));
  assert.deepEqual(dataCalls, [], 'no data was asked for');
  await assertNothingStored();
});

step('signs in with the API key', async () => {
  await page.getByLabel('API key').fill(APIKEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await visible(page.getByRole('navigation', { name: 'Sections' }));
  await page.locator('#kms-instance').selectOption(api.kmsInstance);
  await visible(page.getByRole('heading', { name: 'Keys', exact: true }));
  await visible(page.locator('#keys-status').filter({ hasNotText: 'Loading' }));
  assert.equal(await page.locator('#signin-error').isVisible(), false);
  assert.equal(await page.locator('#keys-error').isVisible(), false, 'the keys were listed');
  assert.match(await page.locator('#whoami').innerText(), /^Signed in as \S+/);
  await assertNothingStored();
});

step('creates a key in the dialog', async () => {
  await page.getByRole('button', { name: 'Create key' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create key' });
  await visible(dialog);
  await dialog.getByLabel('Name', { exact: true }).fill(KEY_NAME);
  await dialog.getByLabel(/^Aliases/).fill(ALIAS);
  await dialog.getByRole('button', { name: 'Create', exact: true }).click();
  await hidden(dialog);
  const row = page.locator('#keys-body tr').filter({ hasText: KEY_NAME });
  await visible(row);
  const cells = await row.locator('td').allInnerTexts();
  assert.match(cells[1], new RegExp(ALIAS), 'its alias');
  assert.equal(cells[2], 'Active');
  assert.equal(cells[3], 'Root');
  await visible(page.locator('#key-details-title').filter({ hasText: KEY_NAME }));
  await visible(page.locator('#notice').filter({ hasText: `Key “${KEY_NAME}” created.` }));

  const made = await api.call('GET', `/api/v2/keys/${ALIAS}/metadata`, { kms: true });
  const key = made.resources[0];
  assert.equal(key.name, KEY_NAME);
  assert.equal(key.state, 1);
  assert.equal(key.extractable, false, 'a root key');
  assert.ok((await page.locator('#key-facts').innerText()).includes(key.crn), 'its CRN is shown');
  shared.key = key;
});

step('a key disabled elsewhere shows as suspended, with enable as its only action', async () => {
  const name = `ui-suspended-${SUFFIX}`;
  const made = await api.call('POST', '/api/v2/keys', { kms: true, body: keyBody(name) });
  await api.call('POST', `/api/v2/keys/${made.resources[0].id}/actions/disable`, { kms: true });
  await page.locator('#keys-refresh').click();
  const row = page.locator('#keys-body tr').filter({ hasText: name });
  await visible(row);
  const cells = await row.locator('td').allInnerTexts();
  assert.equal(cells[2], 'Suspended');
  assert.equal(cells[3], 'Root');
  await row.getByRole('button', { name }).click();
  await visible(page.locator('#key-details-title').filter({ hasText: name }));
  const actions = page.locator('#key-actions');
  await visible(actions.getByRole('button', { name: 'Enable…' }));
  assert.deepEqual(await actions.getByRole('button').allInnerTexts(), ['Enable…'], 'only enable');
});

step('sets the key as a configuration instance’s root key and sees the re-encryption complete', async () => {
  const { key } = shared;
  const instance = await api.call('POST', '/v2/resource_instances', {
    body: { name: `ui-config-${SUFFIX}`, service: 'configsvc' },
  });
  shared.instance = instance;
  await giveSecrets(instance.guid);
  const authorizedBefore = await configsvcAuthorized();

  await page.getByRole('link', { name: 'Configuration instances' }).click();
  const card = page.locator(`[data-instance="${instance.guid}"]`);
  await visible(card);
  assert.match(await card.innerText(), /Protected by the service’s global key/);
  const authorization = page.locator('#authorization-text');
  const dialog = page.getByRole('dialog', { name: 'Set root key' });

  if (!authorizedBefore) {
    await visible(authorization.filter({ hasText: /^Not authorized/ }));
    // Without the authorization the server refuses the key, and the dialog says why.
    await card.getByRole('button', { name: 'Set root key…' }).click();
    await visible(dialog);
    await visible(dialog.locator('#root-key-warning').filter({ hasText: 'not authorized' }));
    await dialog.getByLabel('Root key', { exact: true }).selectOption(key.crn);
    await dialog.getByRole('button', { name: 'Re-encrypt under this key' }).click();
    await visible(dialog.locator('#root-key-error').filter({ hasText: /^KMS_NOT_AUTHORIZED: / }));
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await hidden(dialog);

    await page.getByRole('button', { name: 'Authorize the configuration service…' }).click();
    const confirm = page.getByRole('dialog', { name: 'Authorize the configuration service?' });
    await visible(confirm);
    await confirm.getByRole('button', { name: 'Authorize', exact: true }).click();
    await hidden(confirm);
    await visible(authorization.filter({ hasText: /^Authorized: / }));
    assert.ok(await configsvcAuthorized(), 'the authorization policy exists');
  } else {
    await visible(authorization.filter({ hasText: /^Authorized: / }));
  }

  await card.getByRole('button', { name: 'Set root key…' }).click();
  await visible(dialog);
  assert.equal(await dialog.locator('#root-key-warning').isVisible(), false, 'no warning once authorized');
  await dialog.getByLabel('Root key', { exact: true }).selectOption(key.crn);
  await dialog.getByRole('button', { name: 'Re-encrypt under this key' }).click();
  await hidden(dialog);

  const complete = card.locator('[data-progress="complete"]').filter({ hasText: KEY_NAME });
  await visible(complete, SWITCH_WAIT_MS);
  const text = await card.innerText();
  assert.match(text, new RegExp(`Protected by root key “${KEY_NAME}” \\(${ALIAS}\\)`));
  assert.match(await complete.locator('.progress-state').innerText(), /^Complete$/);
  // The count comes from the switch as first seen; a switch already over when the page first
  // saw it has no count to show (the API keeps none), and the page then shows none.
  const counts = await complete.locator('.progress-count').allInnerTexts();
  if (counts.length) assert.deepEqual(counts, [`${FIELDS} / ${FIELDS} fields`]);
  else console.log('# the switch was over before the page saw it: no count shown');
  const bar = complete.locator('progress');
  assert.equal(await bar.getAttribute('max'), await bar.evaluate((el) => String(el.value)), 'a full bar');
  await visible(page.locator('#notice').filter({ hasText: `is now protected by root key “${KEY_NAME}”` }));
  await shot('instance-root-key.png');

  // Through the API: the instance is protected by the key, and every secret opens under it.
  const prefs = await api.call('GET', `/openscale/${instance.guid}/v2/user_preferences`);
  assert.equal(prefs.key_protection.root_key, key.crn);
  assert.equal(prefs.key_protection.switching_to, null);
  assert.equal(prefs.user_root_key_crn, key.crn);
  const check = await api.call('GET', `/openscale/${instance.guid}/v2/secrets_check`);
  assert.equal(check.fields_decrypted, FIELDS);
  assert.deepEqual(check.failures, []);
  assert.deepEqual(check.generations, [{ status: 'current', root_key: key.crn }]);
  const regs = await api.call('GET', `/api/v2/keys/${key.id}/registrations`, { kms: true });
  assert.ok(regs.resources.some((r) => r.resourceCrn === instance.crn), 'the instance registered on the key');
});

step('a paused switch shows its progress and its reason', async () => {
  // A pause cannot be caused on demand (the switch must meet its key disabled mid-way), so the
  // server's answer for it is replayed to the page; then the real answer comes back.
  const { key, instance } = shared;
  const card = page.locator(`[data-instance="${instance.guid}"]`);
  const prefs = `**/openscale/${instance.guid}/v2/user_preferences`;
  const reason = `the root key ${key.crn} is disabled`;
  const paused = {
    root_key: 'global',
    switching_to: key.crn,
    state: 'paused',
    progress: { done: 42, total: FIELDS },
    reason,
  };
  const body = JSON.stringify({ key_protection: paused });
  await page.route(prefs, (route) => route.fulfill({ status: 200, contentType: 'application/json', body }));
  try {
    await page.locator('#instances-refresh').click();
    const block = card.locator('[data-progress="paused"]');
    await visible(block);
    assert.equal(await block.locator('.progress-count').innerText(), `42 / ${FIELDS} fields`);
    assert.equal(await block.locator('.progress-state').innerText(), 'Paused');
    assert.equal(await block.locator('.warning').innerText(), `Paused: ${reason}`);
    const bar = await block.locator('progress').evaluate((el) => [el.value, el.max]);
    assert.deepEqual(bar, [42, FIELDS], 'the bar shows the fields done');
    assert.match(await card.innerText(), /Protected by the service’s global key/);
  } finally {
    await page.unroute(prefs);
  }
  // The page keeps following the switch and sees the instance protected by the key again.
  await visible(card.locator('[data-progress="complete"]'));
  assert.match(await card.innerText(), new RegExp(`Protected by root key “${KEY_NAME}”`));
});

step('rotates the key after its confirmation; a second rotation is refused', async () => {
  const { key, instance } = shared;
  const versions = async () =>
    (await api.call('GET', `/api/v2/keys/${key.id}/versions`, { kms: true })).resources.length;
  await page.getByRole('link', { name: 'Keys', exact: true }).click();
  const row = page.locator('#keys-body tr').filter({ hasText: KEY_NAME });
  await row.getByRole('button', { name: KEY_NAME }).click();
  await visible(page.locator('#key-registrations').filter({ hasText: instance.crn }));
  await visible(page.locator('#key-versions li').first());
  assert.equal(await page.locator('#key-versions li').count(), 1);

  const rotate = page.locator('#key-actions').getByRole('button', { name: 'Rotate…' });
  const dialog = page.getByRole('dialog', { name: 'Rotate key?' });
  await rotate.click();
  await visible(dialog);
  assert.match(await dialog.innerText(), new RegExp(KEY_NAME));
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await hidden(dialog);
  assert.equal(await versions(), 1, 'cancelled: not rotated');

  await rotate.click();
  await visible(dialog);
  await dialog.getByRole('button', { name: 'Rotate', exact: true }).click();
  await hidden(dialog);
  await visible(page.locator('#notice').filter({ hasText: `Key “${KEY_NAME}” rotated` }));
  await visible(page.locator('#key-versions li').nth(1));
  assert.equal(await page.locator('#key-versions li').count(), 2);
  assert.equal(await versions(), 2, 'rotated');
  const lastRotated = row.locator('td').nth(6);
  assert.notEqual(await lastRotated.innerText(), '—', 'the list shows the rotation');
  await page.getByRole('button', { name: 'Dismiss' }).click();
  await hidden(page.locator('#notice'));
  await page.screenshot({ path: path.join(SHOTS, 'keys.png'), fullPage: true });

  await page.locator('#key-actions').getByRole('button', { name: 'Rotate…' }).click();
  await visible(dialog);
  await dialog.getByRole('button', { name: 'Rotate', exact: true }).click();
  await visible(page.locator('#key-details-error').filter({ hasText: /KEY_ROTATION_NOT_PERMITTED: / }));
  assert.equal(await versions(), 2, 'refused: not rotated');
});

step('goes back to the global key after its confirmation', async () => {
  const { instance } = shared;
  await page.getByRole('link', { name: 'Configuration instances' }).click();
  const card = page.locator(`[data-instance="${instance.guid}"]`);
  await visible(card.getByRole('button', { name: 'Use the global key…' }));
  await card.getByRole('button', { name: 'Use the global key…' }).click();
  const confirm = page.getByRole('dialog', { name: 'Go back to the global key?' });
  await visible(confirm);
  await confirm.getByRole('button', { name: 'Use the global key' }).click();
  await hidden(confirm);
  const complete = card
    .locator('[data-progress="complete"]')
    .filter({ hasText: 'Every secret is now under the service’s global key' });
  await visible(complete, SWITCH_WAIT_MS);
  assert.match(await card.innerText(), /Protected by the service’s global key/);
  assert.equal(await card.getByRole('button', { name: 'Use the global key…' }).count(), 0);

  const prefs = await api.call('GET', `/openscale/${instance.guid}/v2/user_preferences`);
  assert.equal(prefs.key_protection.root_key, 'global');
  assert.equal(prefs.key_protection.switching_to, null);
  assert.equal(prefs.user_root_key_crn, undefined);
  const check = await api.call('GET', `/openscale/${instance.guid}/v2/secrets_check`);
  assert.equal(check.fields_decrypted, FIELDS);
  assert.deepEqual(check.generations, [{ status: 'current', root_key: 'global' }]);
});

step('a hostile key name is shown as text, never as markup', async () => {
  const hostile = `<img src=x onerror="document.title='owned'">${SUFFIX}`;
  await api.call('POST', '/api/v2/keys', { kms: true, body: keyBody(hostile) });
  await page.getByRole('link', { name: 'Keys', exact: true }).click();
  await visible(page.locator('#keys-body tr').filter({ hasText: hostile }));
  assert.equal(await page.locator('#keys-body img').count(), 0, 'no element made from the name');
  assert.notEqual(await page.title(), 'owned');
});

step('the audit page lists the events, newest first', async () => {
  await page.getByRole('link', { name: 'Audit events' }).click();
  const table = page.locator('#audit-table');
  await visible(table);
  const rows = page.locator('#audit-body tr');
  const row = (action, outcome) => rows.filter({ hasText: action }).filter({ hasText: outcome }).first();
  await visible(row('kms.secrets.create', 'success'));
  await visible(row('configsvc.user-preferences.update', 'success'));
  await visible(row('kms.secrets.rotate', 'success'));
  const refused = row('kms.secrets.rotate', 'failure');
  await visible(refused);
  assert.match(await refused.innerText(), /409/);
  const seqs = (await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.seq))));
  assert.ok(seqs.length > 5, 'events listed');
  assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'newest first');
  await shot('audit.png');

  await page.getByLabel('Failures only').check();
  const outcomes = await rows.locator('td:nth-child(3)').allInnerTexts();
  assert.ok(outcomes.length > 0 && outcomes.every((o) => o === 'failure'), 'only failures');
  await page.getByLabel('Failures only').uncheck();
});

step('signing out forgets the session and every piece of data', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await visible(page.getByRole('heading', { name: 'Sign in' }));
  assert.equal(await page.locator('#keys-body tr').count(), 0);
  assert.equal(await page.locator('#audit-body tr').count(), 0);
  assert.equal(await page.locator('#instances-list > *').count(), 0);
  await assertNothingStored();
  await page.goto(`${BASE}/ui/#keys`);
  await visible(page.getByRole('heading', { name: 'Sign in' }));
  assert.equal(await page.locator('#nav').isVisible(), false, 'a reload is signed out');
});

step('a user without IAM roles signs in with the KMS instance ID and works with its keys', async () => {
  const name = `ui-kms-user-${SUFFIX}`;
  const { iam_id: iamId } = await api.call('POST', '/v1/users', { body: { name } });
  const { apikey, id } = await api.call('POST', '/v1/apikeys', { body: { name, iam_id: iamId } });
  shared.userApikeyId = id;
  await api.call('POST', '/v1/policies', {
    body: {
      type: 'access',
      subjects: [{ attributes: [{ name: 'iam_id', value: iamId }] }],
      roles: [{ role_id: 'crn:v1:bluemix:public:iam::::serviceRole:Reader' }],
      resources: [
        {
          attributes: [
            { name: 'serviceName', value: 'kms' },
            { name: 'serviceInstance', value: api.kmsInstance },
          ],
        },
      ],
    },
  });
  await page.getByText('Options').click();
  await page.getByLabel(/^KMS instance ID/).fill(api.kmsInstance);
  await page.getByLabel('API key').fill(apikey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await visible(page.locator('#keys-body tr').filter({ hasText: KEY_NAME }));
  assert.match(await page.locator('#whoami').innerText(), new RegExp(iamId));
  await page.getByRole('link', { name: 'Audit events' }).click();
  await visible(page.locator('#audit-error').filter({ hasText: /^FORBIDDEN_ERR: / }));
  assert.equal(await page.locator('#audit-body tr').count(), 0, 'no events for a KMS reader');
});

step('a revoked API key ends the session at the next request', async () => {
  await api.call('DELETE', `/v1/apikeys/${shared.userApikeyId}`);
  // The token is refused at once; the page asks for a new one with the API key, is refused
  // again, and signs out.
  await page.getByRole('link', { name: 'Keys', exact: true }).click();
  await visible(page.locator('#signin-error').filter({ hasText: /^Your session ended: [A-Z0-9_]+: / }));
  await visible(page.getByRole('heading', { name: 'Sign in' }));
  assert.equal(await page.locator('#nav').isVisible(), false);
  assert.equal(await page.locator('#keys-body tr').count(), 0, 'no key left on the page');
});

test('the page ran under its Content-Security-Policy without errors', () => {
  assert.deepEqual(cspViolations, [], 'no CSP violation');
  assert.deepEqual(pageErrors, [], 'no script error');
});
