'use strict';
// Keyward compatibility suite for the unmodified Node SDK @ibm-cloud/ibm-key-protect 0.1.2
// (ibm-cloud-sdk-core 2.x). It drives a real `keyward serve` process over a socket.
// Run: node --test keyprotect.test.js   (see tests/sdk/README.md)

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const KeyProtectV2 = require('@ibm-cloud/ibm-key-protect/ibm-key-protect-api/v2');
const {
  IamAuthenticator,
  BearerTokenAuthenticator,
  NoAuthAuthenticator,
} = require('@ibm-cloud/ibm-key-protect/auth');
const { startServer } = require('./server');

const KEY_TYPE = 'application/vnd.ibm.kms.key+json';
const VERSION_TYPE = 'application/vnd.ibm.kms.key.version+json';
const RING_TYPE = 'application/vnd.ibm.kms.key_ring+json';
const ERROR_TYPE = 'application/vnd.ibm.kms.error+json';
const POLICY_TYPE = 'application/vnd.ibm.kms.policy+json';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FAR_FUTURE = '2099-01-01T00:00:00Z';
const TEST_TIMEOUT = 120_000;

let srv; // KeywardServer
let bi; // Bluemix-Instance (KMS instance UUID)
let failed = false;
const ringsToCleanUp = [];

before(async () => {
  srv = await startServer();
  bi = srv.instanceId;
});

after(async () => {
  if (srv) {
    // Best effort: leave no key rings behind (matters when a shared PostgreSQL is used).
    for (const ring of ringsToCleanUp) {
      await srv.rawKms('DELETE', `/api/v2/key_rings/${encodeURIComponent(ring)}?force=true`);
    }
    if (failed) {
      const fs = require('node:fs');
      try {
        const log = fs.readFileSync(srv.logFile, 'utf8').split('\n').slice(-80).join('\n');
        console.log(`# --- last lines of keyward log ---\n${log.replace(/^/gm, '# ')}`);
      } catch (_) {
        /* ignore */
      }
    }
    await srv.stop();
  }
});

/** test() wrapper: per-test timeout, remembers failures so the server log is shown. */
function kpTest(name, fn) {
  test(name, { timeout: TEST_TIMEOUT }, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      failed = true;
      throw e;
    }
  });
}

// ---------------------------------------------------------------- helpers

const suffix = () => crypto.randomBytes(4).toString('hex');
const keyName = (what) => `node${what}${suffix()}`; // alphanumeric only
const b64 = (buf) => Buffer.from(buf).toString('base64');
const unb64 = (s) => Buffer.from(s, 'base64');

function keyBody(fields) {
  return {
    metadata: { collectionType: KEY_TYPE, collectionTotal: 1 },
    resources: [{ type: KEY_TYPE, ...fields }],
  };
}

/** createKey via the SDK; asserts the 201 collection and returns the single key resource. */
async function createKey(kp, fields, extra = {}) {
  const res = await kp.createKey({ bluemixInstance: bi, body: keyBody(fields), ...extra });
  assert.equal(res.status, 201);
  assert.equal(res.result.metadata.collectionType, KEY_TYPE);
  assert.equal(res.result.metadata.collectionTotal, 1);
  assert.equal(res.result.resources.length, 1);
  return res.result.resources[0];
}

const createRootKey = (kp, extra = {}) =>
  createKey(kp, { name: keyName('root'), extractable: false, ...extra });

async function getKey(kp, id) {
  const res = await kp.getKey({ bluemixInstance: bi, id });
  assert.equal(res.status, 200);
  assert.equal(res.result.metadata.collectionType, KEY_TYPE);
  assert.equal(res.result.resources.length, 1);
  return res.result.resources[0];
}

async function listKeys(kp, params = {}) {
  const res = await kp.getKeys({ bluemixInstance: bi, limit: 5000, ...params });
  assert.equal(res.status, 200);
  assert.equal(res.result.metadata.collectionType, KEY_TYPE);
  const resources = res.result.resources || [];
  assert.equal(res.result.metadata.collectionTotal, resources.length);
  return resources;
}

async function keyTotal(kp, params = {}) {
  const res = await kp.getKeyCollectionMetadata({ bluemixInstance: bi, ...params });
  assert.equal(res.status, 200);
  assert.ok(!res.result, `HEAD must have no body, got ${JSON.stringify(res.result)}`);
  const total = res.headers['key-total'];
  assert.ok(total !== undefined, 'Key-Total header missing');
  assert.match(String(total), /^\d+$/);
  return Number(total);
}

async function wrap(kp, id, body) {
  const res = await kp.wrapKey({ bluemixInstance: bi, id, keyActionWrapBody: body });
  assert.equal(res.status, 200);
  assert.equal(typeof res.result.ciphertext, 'string');
  assert.ok(res.result.ciphertext.length > 0);
  assert.match(res.result.keyVersion.id, UUID_RE);
  return res.result;
}

async function unwrap(kp, id, body) {
  const res = await kp.unwrapKey({ bluemixInstance: bi, id, keyActionUnwrapBody: body });
  assert.equal(res.status, 200);
  assert.equal(typeof res.result.plaintext, 'string');
  return res.result;
}

/** Read a Node readable stream (restoreKey result in SDK 0.1.2) and JSON-parse it. */
async function readJsonStream(stream) {
  assert.ok(stream && typeof stream.on === 'function', 'restoreKey result is expected to be a stream');
  const chunks = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/**
 * Await an SDK call that must fail; asserts the HTTP status (one of `statuses`) and, unless
 * `envelope` is false, the Key Protect error envelope. Returns the SDK error.
 */
async function expectError(promise, statuses, { code, envelope = true } = {}) {
  const allowed = Array.isArray(statuses) ? statuses : [statuses];
  let err;
  try {
    const res = await promise;
    if (res && res.result && typeof res.result.destroy === 'function') res.result.destroy();
    assert.fail(`expected HTTP ${allowed.join('/')}, got success ${res && res.status}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.ok(
    allowed.includes(err.status),
    `expected HTTP ${allowed.join('/')}, got ${err.status} (${err.message}) body=${typeof err.body === 'string' ? err.body : ''}`,
  );
  if (envelope) {
    assert.equal(typeof err.body, 'string', 'error body should be JSON text');
    const body = JSON.parse(err.body);
    assert.equal(body.metadata.collectionType, ERROR_TYPE);
    assert.equal(body.metadata.collectionTotal, 1);
    assert.equal(typeof body.resources[0].errorMsg, 'string');
    if (code) {
      const codes = (body.resources[0].reasons || []).map((r) => r.code);
      assert.ok(codes.includes(code), `expected reason code ${code}, got ${JSON.stringify(codes)}`);
    }
  }
  return err;
}

const ids = (resources) => resources.map((k) => k.id);

// ---------------------------------------------------------------- tests

kpTest('client construction: IamAuthenticator against keyward IAM, newInstance() from env', async () => {
  const kp = srv.client();
  assert.ok(kp instanceof KeyProtectV2);
  assert.equal(kp.baseOptions.serviceUrl, srv.baseUrl);
  // The IAM authenticator fetches a JWT from <url>/identity/token on the first call.
  const keys = await listKeys(kp);
  assert.ok(Array.isArray(keys));

  const saved = { ...process.env };
  try {
    process.env.IBM_KEY_PROTECT_API_URL = srv.baseUrl;
    process.env.IBM_KEY_PROTECT_API_AUTH_TYPE = 'iam';
    process.env.IBM_KEY_PROTECT_API_APIKEY = srv.apikey;
    process.env.IBM_KEY_PROTECT_API_AUTH_URL = srv.baseUrl;
    const kp2 = KeyProtectV2.newInstance({});
    const res = await kp2.getKeys({ bluemixInstance: bi, limit: 1 });
    assert.equal(res.status, 200);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

kpTest('createKey: generated root key has the documented fields', async () => {
  const kp = srv.client();
  const name = keyName('root');
  const k = await createKey(kp, {
    name,
    description: 'node sdk root key',
    extractable: false,
    tags: ['nodetag1', 'nodetag2'],
    expirationDate: FAR_FUTURE,
  });
  assert.equal(k.type, KEY_TYPE);
  assert.match(k.id, UUID_RE);
  assert.equal(k.name, name);
  assert.equal(k.description, 'node sdk root key');
  assert.equal(k.extractable, false);
  assert.equal(k.state, 1);
  assert.equal(k.imported, false);
  assert.equal(k.deleted, false);
  assert.equal(k.keyRingID, 'default');
  assert.deepEqual([...k.tags].sort(), ['nodetag1', 'nodetag2']);
  assert.equal(Date.parse(k.expirationDate), Date.parse(FAR_FUTURE));
  assert.ok(!Number.isNaN(Date.parse(k.creationDate)), `creationDate ${k.creationDate}`);
  assert.match(k.keyVersion.id, UUID_RE);
  assert.equal(k.payload, undefined, 'root keys never return payload');
  assert.equal(k.crn, `crn:v1:keyward:local:kms:local:a/${srv.accountId}:${bi}:key:${k.id}`);

  // The same key read back.
  const g = await getKey(kp, k.id);
  assert.equal(g.id, k.id);
  assert.equal(g.name, name);
  assert.equal(g.state, 1);
  assert.equal(g.crn, k.crn);
  assert.equal(g.keyVersion.id, k.keyVersion.id);
  assert.equal(g.payload, undefined);
});

kpTest('createKey: import root key with payload; wrap/unwrap work with it', async () => {
  const kp = srv.client();
  for (const len of [16, 24, 32]) {
    const material = crypto.randomBytes(len);
    const k = await createKey(kp, { name: keyName('imp'), extractable: false, payload: b64(material) });
    assert.equal(k.imported, true);
    assert.equal(k.extractable, false);
    assert.equal(k.state, 1);
    assert.equal(k.payload, undefined, 'imported root key never returns payload');
    const g = await getKey(kp, k.id);
    assert.equal(g.imported, true);
    assert.equal(g.payload, undefined);
    const dek = crypto.randomBytes(32);
    const w = await wrap(kp, k.id, { plaintext: b64(dek) });
    const u = await unwrap(kp, k.id, { ciphertext: w.ciphertext });
    assert.deepEqual(unb64(u.plaintext), dek);
  }
  // Root key material must be 16, 24 or 32 bytes.
  await expectError(
    kp.createKey({
      bluemixInstance: bi,
      body: keyBody({ name: keyName('bad'), extractable: false, payload: b64(crypto.randomBytes(10)) }),
    }),
    400,
  );
});

kpTest('createKey: standard keys (imported and generated); payload only on getKey', async () => {
  const kp = srv.client();
  const secret = crypto.randomBytes(48);
  const imp = await createKey(kp, { name: keyName('std'), extractable: true, payload: b64(secret) });
  assert.equal(imp.extractable, true);
  assert.equal(imp.imported, true);
  assert.equal(imp.state, 1);

  const g = await getKey(kp, imp.id);
  assert.equal(g.extractable, true);
  assert.deepEqual(unb64(g.payload), secret);

  const meta = await kp.getKeyMetadata({ bluemixInstance: bi, id: imp.id });
  assert.equal(meta.status, 200);
  assert.equal(meta.result.metadata.collectionType, KEY_TYPE);
  assert.equal(meta.result.resources[0].id, imp.id);
  assert.equal(meta.result.resources[0].payload, undefined, 'metadata never has payload');

  const listed = (await listKeys(kp, { extractable: true })).find((k) => k.id === imp.id);
  assert.ok(listed, 'standard key in list');
  assert.equal(listed.payload, undefined, 'list never has payload');

  // Generated standard key: the service creates material; readable via getKey.
  const gen = await createKey(kp, { name: keyName('stdgen'), extractable: true });
  assert.equal(gen.extractable, true);
  assert.equal(gen.imported, false);
  const gg = await getKey(kp, gen.id);
  assert.equal(typeof gg.payload, 'string');
  assert.ok(unb64(gg.payload).length > 0);

  // Prefer: return=representation on create includes the standard key payload.
  const rep = await createKey(
    kp,
    { name: keyName('stdrep'), extractable: true, payload: b64(secret) },
    { prefer: 'return=representation' },
  );
  assert.deepEqual(unb64(rep.payload), secret);

  // Standard keys cannot wrap.
  await expectError(kp.wrapKey({ bluemixInstance: bi, id: imp.id }), [400, 409, 422]);
});

kpTest('getKey / getKeyMetadata: by id and by alias; unknown id is 404', async () => {
  const kp = srv.client();
  const alias = `node-alias-${suffix()}`;
  const k = await createRootKey(kp, { aliases: [alias] });
  assert.deepEqual(k.aliases, [alias]);

  const byAlias = await getKey(kp, alias);
  assert.equal(byAlias.id, k.id);
  assert.deepEqual(byAlias.aliases, [alias]);

  const meta = await kp.getKeyMetadata({ bluemixInstance: bi, id: alias });
  assert.equal(meta.status, 200);
  const m = meta.result.resources[0];
  assert.equal(m.id, k.id);
  assert.equal(m.name, k.name);
  assert.equal(m.state, 1);
  assert.equal(m.crn, k.crn);
  assert.equal(m.payload, undefined);

  await expectError(kp.getKey({ bluemixInstance: bi, id: crypto.randomUUID() }), 404);
  await expectError(kp.getKeyMetadata({ bluemixInstance: bi, id: crypto.randomUUID() }), 404);
  await expectError(kp.getKey({ bluemixInstance: bi, id: `no-such-alias-${suffix()}` }), 404);
});

kpTest('getKeys: extractable, state, limit and offset', async () => {
  const kp = srv.client();
  const rootA = await createRootKey(kp);
  const rootB = await createRootKey(kp);
  const std = await createKey(kp, { name: keyName('std'), extractable: true });
  const gone = await createRootKey(kp);
  const del = await kp.deleteKey({ bluemixInstance: bi, id: gone.id });
  assert.equal(del.status, 204);

  // Default: every non-destroyed key, destroyed ones excluded.
  const all = await listKeys(kp);
  for (const k of [rootA, rootB, std]) assert.ok(ids(all).includes(k.id), `default list has ${k.id}`);
  assert.ok(!ids(all).includes(gone.id), 'destroyed key excluded by default');
  assert.ok(all.every((k) => k.state !== 5));
  assert.ok(all.every((k) => k.payload === undefined));

  // extractable filter.
  const std1 = await listKeys(kp, { extractable: true });
  assert.ok(std1.every((k) => k.extractable === true));
  assert.ok(ids(std1).includes(std.id));
  assert.ok(!ids(std1).includes(rootA.id));
  const roots = await listKeys(kp, { extractable: false });
  assert.ok(roots.every((k) => k.extractable === false));
  assert.ok(ids(roots).includes(rootA.id) && ids(roots).includes(rootB.id));
  assert.ok(!ids(roots).includes(std.id));

  // state filter (SDK sends state=5 / state=1%2C5).
  const destroyed = await listKeys(kp, { state: [5] });
  assert.ok(destroyed.every((k) => k.state === 5));
  assert.ok(ids(destroyed).includes(gone.id));
  assert.ok(!ids(destroyed).includes(rootA.id));
  const activeAndDestroyed = await listKeys(kp, { state: [1, 5] });
  assert.ok(activeAndDestroyed.every((k) => k.state === 1 || k.state === 5));
  assert.ok(ids(activeAndDestroyed).includes(gone.id));
  assert.ok(ids(activeAndDestroyed).includes(rootA.id));
  const rootsDestroyed = await listKeys(kp, { state: [5], extractable: false });
  assert.ok(ids(rootsDestroyed).includes(gone.id));
  assert.ok(rootsDestroyed.every((k) => k.state === 5 && k.extractable === false));

  // limit / offset paging is consistent with the full list.
  assert.ok(all.length >= 3);
  const one = await kp.getKeys({ bluemixInstance: bi, limit: 1 });
  assert.equal(one.status, 200);
  assert.equal(one.result.resources.length, 1);
  assert.equal(one.result.metadata.collectionTotal, 1);
  assert.equal(one.result.resources[0].id, all[0].id);
  const paged = [];
  for (let off = 0; off < 3; off++) {
    const p = await kp.getKeys({ bluemixInstance: bi, limit: 1, offset: off });
    assert.equal(p.result.resources.length, 1);
    paged.push(p.result.resources[0].id);
  }
  assert.deepEqual(paged, ids(all).slice(0, 3));
  const two = await kp.getKeys({ bluemixInstance: bi, limit: 2, offset: 1 });
  assert.deepEqual(ids(two.result.resources), ids(all).slice(1, 3));
  const beyond = await kp.getKeys({ bluemixInstance: bi, limit: 10, offset: all.length });
  assert.equal(beyond.status, 200);
  assert.equal((beyond.result.resources || []).length, 0);
  assert.equal(beyond.result.metadata.collectionTotal, 0);
});

kpTest('getKeyCollectionMetadata: HEAD /keys reports Key-Total', async () => {
  const kp = srv.client();
  const before0 = await keyTotal(kp);
  assert.equal(before0, (await listKeys(kp)).length);
  const k = await createRootKey(kp);
  assert.equal(await keyTotal(kp), before0 + 1);

  const stdTotal = await keyTotal(kp, { extractable: true });
  assert.equal(stdTotal, (await listKeys(kp, { extractable: true })).length);
  const rootTotal = await keyTotal(kp, { extractable: false });
  assert.equal(rootTotal, (await listKeys(kp, { extractable: false })).length);
  assert.equal(stdTotal + rootTotal, before0 + 1);

  const destroyedBefore = await keyTotal(kp, { state: [5] });
  await kp.deleteKey({ bluemixInstance: bi, id: k.id });
  assert.equal(await keyTotal(kp, { state: [5] }), destroyedBefore + 1);
  assert.equal(await keyTotal(kp), before0);
  assert.equal(await keyTotal(kp, { state: [1, 5] }), (await listKeys(kp, { state: [1, 5] })).length);
});

kpTest('wrapKey / unwrapKey: generated DEK, caller DEK, AAD', async () => {
  const kp = srv.client();
  const k = await createRootKey(kp);

  // Empty body: the service generates a 32-byte DEK and returns plaintext + ciphertext.
  const gen = await wrap(kp, k.id, undefined);
  assert.equal(typeof gen.plaintext, 'string');
  assert.equal(unb64(gen.plaintext).length, 32);
  assert.equal(gen.keyVersion.id, k.keyVersion.id);
  const u1 = await unwrap(kp, k.id, { ciphertext: gen.ciphertext });
  assert.equal(u1.plaintext, gen.plaintext);
  assert.equal(u1.keyVersion.id, k.keyVersion.id);
  assert.equal(u1.rewrappedKeyVersion, undefined, 'no rewrap for the latest version');

  // Two generated DEKs differ.
  const gen2 = await wrap(kp, k.id, undefined);
  assert.notEqual(gen2.plaintext, gen.plaintext);

  // Caller-supplied DEK.
  const dek = crypto.randomBytes(32);
  const w = await wrap(kp, k.id, { plaintext: b64(dek) });
  assert.equal(w.keyVersion.id, k.keyVersion.id);
  assert.notEqual(w.ciphertext, b64(dek));
  const u2 = await unwrap(kp, k.id, { ciphertext: w.ciphertext });
  assert.deepEqual(unb64(u2.plaintext), dek);

  // AAD must match on unwrap.
  const aad = ['node-aad-1', 'tenant:42'];
  const wa = await wrap(kp, k.id, { plaintext: b64(dek), aad });
  const ua = await unwrap(kp, k.id, { ciphertext: wa.ciphertext, aad });
  assert.deepEqual(unb64(ua.plaintext), dek);
  await expectError(
    kp.unwrapKey({ bluemixInstance: bi, id: k.id, keyActionUnwrapBody: { ciphertext: wa.ciphertext, aad: ['wrong'] } }),
    [400, 422],
  );
  await expectError(
    kp.unwrapKey({ bluemixInstance: bi, id: k.id, keyActionUnwrapBody: { ciphertext: wa.ciphertext } }),
    [400, 422],
  );

  // A ciphertext of another key does not unwrap.
  const other = await createRootKey(kp);
  await expectError(
    kp.unwrapKey({ bluemixInstance: bi, id: other.id, keyActionUnwrapBody: { ciphertext: w.ciphertext } }),
    [400, 422],
  );
  // Invalid base64 plaintext.
  await expectError(
    kp.wrapKey({ bluemixInstance: bi, id: k.id, keyActionWrapBody: { plaintext: '***not base64***' } }),
    400,
  );
});

kpTest('rotateKey, getKeyVersions, unwrap of old ciphertext, rewrapKey', async () => {
  let kp = srv.client();
  const k = await createRootKey(kp);
  const v1 = k.keyVersion.id;

  const vers1 = await kp.getKeyVersions({ bluemixInstance: bi, id: k.id });
  assert.equal(vers1.status, 200);
  assert.equal(vers1.result.metadata.collectionType, VERSION_TYPE);
  assert.equal(vers1.result.metadata.collectionTotal, 1);
  assert.deepEqual(ids(vers1.result.resources), [v1]);
  assert.ok(!Number.isNaN(Date.parse(vers1.result.resources[0].creationDate)));

  const dek = crypto.randomBytes(32);
  const aad = ['node-rotate'];
  const old = await wrap(kp, k.id, { plaintext: b64(dek), aad });
  assert.equal(old.keyVersion.id, v1);

  const rot = await kp.rotateKey({ bluemixInstance: bi, id: k.id });
  assert.equal(rot.status, 204);
  assert.ok(!rot.result);

  const after1 = await getKey(kp, k.id);
  const v2 = after1.keyVersion.id;
  assert.match(v2, UUID_RE);
  assert.notEqual(v2, v1);
  assert.equal(after1.state, 1);
  assert.ok(!Number.isNaN(Date.parse(after1.lastRotateDate)), `lastRotateDate ${after1.lastRotateDate}`);

  // Versions newest first; limit/offset page through them.
  const vers2 = await kp.getKeyVersions({ bluemixInstance: bi, id: k.id });
  assert.deepEqual(ids(vers2.result.resources), [v2, v1]);
  assert.equal(vers2.result.metadata.collectionTotal, 2);
  const newest = await kp.getKeyVersions({ bluemixInstance: bi, id: k.id, limit: 1 });
  assert.deepEqual(ids(newest.result.resources), [v2]);
  const older = await kp.getKeyVersions({ bluemixInstance: bi, id: k.id, limit: 1, offset: 1 });
  assert.deepEqual(ids(older.result.resources), [v1]);

  // New wraps use the new version.
  const fresh = await wrap(kp, k.id, { plaintext: b64(dek), aad });
  assert.equal(fresh.keyVersion.id, v2);

  // Unwrapping an old ciphertext also returns it rewrapped under the latest version.
  const u = await unwrap(kp, k.id, { ciphertext: old.ciphertext, aad });
  assert.deepEqual(unb64(u.plaintext), dek);
  assert.equal(u.keyVersion.id, v1);
  assert.equal(typeof u.ciphertext, 'string');
  assert.equal(u.rewrappedKeyVersion.id, v2);
  const u2 = await unwrap(kp, k.id, { ciphertext: u.ciphertext, aad });
  assert.deepEqual(unb64(u2.plaintext), dek);
  assert.equal(u2.keyVersion.id, v2);
  assert.equal(u2.rewrappedKeyVersion, undefined);

  // rewrapKey: old ciphertext -> latest version without exposing plaintext.
  const rw = await kp.rewrapKey({ bluemixInstance: bi, id: k.id, keyActionRewrapBody: { ciphertext: old.ciphertext, aad } });
  assert.equal(rw.status, 200);
  assert.equal(typeof rw.result.ciphertext, 'string');
  assert.equal(rw.result.keyVersion.id, v1);
  assert.equal(rw.result.rewrappedKeyVersion.id, v2);
  assert.equal(rw.result.plaintext, undefined, 'rewrap never exposes plaintext');
  const u3 = await unwrap(kp, k.id, { ciphertext: rw.result.ciphertext, aad });
  assert.deepEqual(unb64(u3.plaintext), dek);
  assert.equal(u3.keyVersion.id, v2);

  // Only one manual rotation per hour.
  await expectError(kp.rotateKey({ bluemixInstance: bi, id: k.id }), 409, { code: 'KEY_ROTATION_NOT_PERMITTED' });
  await srv.advanceClock(3601);
  kp = srv.client(); // tokens from before the clock jump may be expired in server time
  const rot2 = await kp.rotateKey({ bluemixInstance: bi, id: k.id });
  assert.equal(rot2.status, 204);
  const v3 = (await getKey(kp, k.id)).keyVersion.id;
  assert.ok(v3 !== v1 && v3 !== v2);
  const vers3 = await kp.getKeyVersions({ bluemixInstance: bi, id: k.id });
  assert.deepEqual(ids(vers3.result.resources), [v3, v2, v1]);

  // The very first ciphertext still unwraps (rewrapped to v3 now).
  const u4 = await unwrap(kp, k.id, { ciphertext: old.ciphertext, aad });
  assert.deepEqual(unb64(u4.plaintext), dek);
  assert.equal(u4.keyVersion.id, v1);
  assert.equal(u4.rewrappedKeyVersion.id, v3);
});

kpTest('rotateKey: imported root key with new payload', async () => {
  const kp = srv.client();
  const k = await createKey(kp, { name: keyName('improt'), extractable: false, payload: b64(crypto.randomBytes(32)) });
  const dek = crypto.randomBytes(32);
  const old = await wrap(kp, k.id, { plaintext: b64(dek) });
  const rot = await kp.rotateKey({
    bluemixInstance: bi,
    id: k.id,
    keyActionRotateBody: { payload: b64(crypto.randomBytes(32)) },
  });
  assert.equal(rot.status, 204);
  const g = await getKey(kp, k.id);
  assert.notEqual(g.keyVersion.id, k.keyVersion.id);
  const u = await unwrap(kp, k.id, { ciphertext: old.ciphertext });
  assert.deepEqual(unb64(u.plaintext), dek);
  assert.equal(u.rewrappedKeyVersion.id, g.keyVersion.id);
});

kpTest('disableKey / enableKey: suspended state, 30-second rule', async () => {
  let kp = srv.client();
  const k = await createRootKey(kp);
  const dek = crypto.randomBytes(32);
  const w = await wrap(kp, k.id, { plaintext: b64(dek) });

  const dis = await kp.disableKey({ bluemixInstance: bi, id: k.id });
  assert.equal(dis.status, 204);
  assert.ok(!dis.result);
  assert.equal((await getKey(kp, k.id)).state, 2);
  const listed = (await listKeys(kp)).find((x) => x.id === k.id);
  assert.equal(listed.state, 2, 'suspended keys are listed by default');

  await expectError(kp.wrapKey({ bluemixInstance: bi, id: k.id, keyActionWrapBody: { plaintext: b64(dek) } }), 409);
  await expectError(kp.unwrapKey({ bluemixInstance: bi, id: k.id, keyActionUnwrapBody: { ciphertext: w.ciphertext } }), 409);
  await expectError(kp.disableKey({ bluemixInstance: bi, id: k.id }), 409, { code: 'KEY_ACTION_INVALID_STATE_ERR' });

  // Enabling within 30 s of the disable is refused.
  await expectError(kp.enableKey({ bluemixInstance: bi, id: k.id }), 409);
  assert.equal((await getKey(kp, k.id)).state, 2);

  await srv.advanceClock(31);
  kp = srv.client();
  const en = await kp.enableKey({ bluemixInstance: bi, id: k.id });
  assert.equal(en.status, 204);
  assert.equal((await getKey(kp, k.id)).state, 1);
  const u = await unwrap(kp, k.id, { ciphertext: w.ciphertext });
  assert.deepEqual(unb64(u.plaintext), dek);
  await wrap(kp, k.id, undefined);

  // Enabling an active key is a state error.
  await expectError(kp.enableKey({ bluemixInstance: bi, id: k.id }), 409, { code: 'KEY_ACTION_INVALID_STATE_ERR' });
});

kpTest('deleteKey (204 and Prefer: return=representation) and restoreKey (stream result)', async () => {
  let kp = srv.client();
  const k = await createRootKey(kp);
  const dek = crypto.randomBytes(32);
  const w = await wrap(kp, k.id, { plaintext: b64(dek) });

  const del = await kp.deleteKey({ bluemixInstance: bi, id: k.id });
  assert.equal(del.status, 204);
  assert.ok(!del.result);

  const g = await getKey(kp, k.id);
  assert.equal(g.state, 5);
  assert.equal(g.deleted, true);
  assert.ok(!Number.isNaN(Date.parse(g.deletionDate)), `deletionDate ${g.deletionDate}`);
  const meta = await kp.getKeyMetadata({ bluemixInstance: bi, id: k.id });
  assert.equal(meta.result.resources[0].state, 5);

  await expectError(kp.unwrapKey({ bluemixInstance: bi, id: k.id, keyActionUnwrapBody: { ciphertext: w.ciphertext } }), 410);
  await expectError(kp.wrapKey({ bluemixInstance: bi, id: k.id }), [409, 410]);
  await expectError(kp.deleteKey({ bluemixInstance: bi, id: k.id }), 410, { code: 'KEY_DELETED_ERR' });

  // Restore is refused within 30 s of the delete.
  await expectError(kp.restoreKey({ bluemixInstance: bi, id: k.id }), 409, { envelope: false });
  assert.equal((await getKey(kp, k.id)).state, 5);

  await srv.advanceClock(31);
  kp = srv.client();
  const res = await kp.restoreKey({ bluemixInstance: bi, id: k.id });
  assert.equal(res.status, 201);
  const body = await readJsonStream(res.result);
  assert.equal(body.metadata.collectionType, KEY_TYPE);
  assert.equal(body.resources.length, 1);
  assert.equal(body.resources[0].id, k.id);
  assert.equal(body.resources[0].state, 1);

  const back = await getKey(kp, k.id);
  assert.equal(back.state, 1);
  assert.equal(back.deleted, false);
  assert.equal(back.name, k.name);
  assert.equal(back.keyVersion.id, k.keyVersion.id);
  const u = await unwrap(kp, k.id, { ciphertext: w.ciphertext });
  assert.deepEqual(unb64(u.plaintext), dek);

  // Restoring an active key is a state error.
  await expectError(kp.restoreKey({ bluemixInstance: bi, id: k.id }), 409, { envelope: false });

  // Prefer: return=representation -> 200 with the deleted key.
  const k2 = await createRootKey(kp);
  const del2 = await kp.deleteKey({ bluemixInstance: bi, id: k2.id, prefer: 'return=representation' });
  assert.equal(del2.status, 200);
  assert.equal(del2.result.metadata.collectionType, KEY_TYPE);
  const d = del2.result.resources[0];
  assert.equal(d.id, k2.id);
  assert.equal(d.state, 5);
  assert.equal(d.deleted, true);
  assert.ok(!Number.isNaN(Date.parse(d.deletionDate)));

  // Explicit Prefer: return=minimal -> 204.
  const k3 = await createRootKey(kp);
  const del3 = await kp.deleteKey({ bluemixInstance: bi, id: k3.id, prefer: 'return=minimal' });
  assert.equal(del3.status, 204);

  // force=true on a key without registrations behaves like a normal delete.
  const k4 = await createRootKey(kp);
  const del4 = await kp.deleteKey({ bluemixInstance: bi, id: k4.id, force: true });
  assert.equal(del4.status, 204);
  assert.equal((await getKey(kp, k4.id)).state, 5);

  await expectError(kp.deleteKey({ bluemixInstance: bi, id: crypto.randomUUID() }), 404);
});

kpTest('restoreKey: standard key (Node 0.1.2 may send an old-style body)', async () => {
  let kp = srv.client();
  const secret = crypto.randomBytes(32);
  const k = await createKey(kp, { name: keyName('stdrest'), extractable: true, payload: b64(secret) });
  assert.equal((await kp.deleteKey({ bluemixInstance: bi, id: k.id })).status, 204);
  await srv.advanceClock(31);
  kp = srv.client();
  const res = await kp.restoreKey({
    bluemixInstance: bi,
    id: k.id,
    keyRestoreBody: keyBody({ payload: b64(secret) }),
  });
  assert.equal(res.status, 201);
  const body = await readJsonStream(res.result);
  assert.equal(body.resources[0].id, k.id);
  assert.equal(body.resources[0].state, 1);
  const g = await getKey(kp, k.id);
  assert.equal(g.state, 1);
  assert.deepEqual(unb64(g.payload), secret);
});

kpTest('createKeyAlias / deleteKeyAlias; alias usable in place of id', async () => {
  const kp = srv.client();
  const k = await createRootKey(kp);
  const alias = `node-alias-${suffix()}`;

  const res = await kp.createKeyAlias({ bluemixInstance: bi, id: k.id, alias });
  assert.ok(res.status === 200 || res.status === 201, `status ${res.status}`);
  assert.equal(res.result.resources.length, 1);
  assert.equal(res.result.resources[0].alias, alias);
  assert.equal(res.result.resources[0].keyId, k.id);

  assert.deepEqual((await getKey(kp, k.id)).aliases, [alias]);
  assert.equal((await getKey(kp, alias)).id, k.id);

  // Alias in place of the id for crypto operations and versions.
  const w = await wrap(kp, alias, undefined);
  const u = await unwrap(kp, k.id, { ciphertext: w.ciphertext });
  assert.equal(u.plaintext, w.plaintext);
  const u2 = await unwrap(kp, alias, { ciphertext: w.ciphertext });
  assert.equal(u2.plaintext, w.plaintext);
  const vers = await kp.getKeyVersions({ bluemixInstance: bi, id: alias });
  assert.deepEqual(ids(vers.result.resources), [k.keyVersion.id]);

  // A second alias; an alias addressing the key in the path of createKeyAlias.
  const alias2 = `node-alias2-${suffix()}`;
  const res2 = await kp.createKeyAlias({ bluemixInstance: bi, id: alias, alias: alias2 });
  assert.equal(res2.result.resources[0].keyId, k.id);
  assert.deepEqual([...(await getKey(kp, k.id)).aliases].sort(), [alias, alias2].sort());

  // An alias already used by another key is rejected.
  const other = await createRootKey(kp);
  await expectError(kp.createKeyAlias({ bluemixInstance: bi, id: other.id, alias }), [400, 409]);
  // Reserved and UUID-shaped aliases are rejected.
  await expectError(kp.createKeyAlias({ bluemixInstance: bi, id: other.id, alias: 'versions' }), 400);
  await expectError(kp.createKeyAlias({ bluemixInstance: bi, id: other.id, alias: crypto.randomUUID() }), 400);

  const del = await kp.deleteKeyAlias({ bluemixInstance: bi, id: k.id, alias });
  assert.equal(del.status, 204);
  assert.deepEqual((await getKey(kp, k.id)).aliases, [alias2]);
  await expectError(kp.getKey({ bluemixInstance: bi, id: alias }), 404);
  const del2 = await kp.deleteKeyAlias({ bluemixInstance: bi, id: k.id, alias: alias2 });
  assert.equal(del2.status, 204);
  const g = await getKey(kp, k.id);
  assert.ok(g.aliases === undefined || g.aliases.length === 0, `aliases ${JSON.stringify(g.aliases)}`);
});

kpTest('listKeyRings / createKeyRing / deleteKeyRing; createKey in a ring via X-Kms-Key-Ring', async () => {
  const kp = srv.client();
  const ring = `node-ring-${suffix()}`;
  const empty = `node-empty-${suffix()}`;
  ringsToCleanUp.push(ring, empty);

  const cr = await kp.createKeyRing({ bluemixInstance: bi, keyRingId: ring });
  assert.equal(cr.status, 201);
  assert.equal((await kp.createKeyRing({ bluemixInstance: bi, keyRingId: empty })).status, 201);

  const list = await kp.listKeyRings({ bluemixInstance: bi });
  assert.equal(list.status, 200);
  assert.equal(list.result.metadata.collectionType, RING_TYPE);
  assert.equal(list.result.metadata.collectionTotal, list.result.resources.length);
  const ringIds = list.result.resources.map((r) => r.id);
  assert.ok(ringIds.includes('default'));
  assert.ok(ringIds.includes(ring));
  assert.ok(ringIds.includes(empty));
  const mine = list.result.resources.find((r) => r.id === ring);
  assert.ok(!Number.isNaN(Date.parse(mine.creationDate)), `creationDate ${mine.creationDate}`);
  assert.equal(typeof mine.createdBy, 'string');

  // Key created in the ring.
  const k = await createRootKey(kp, {}, undefined);
  const inRing = await createKey(kp, { name: keyName('ring'), extractable: false }, { xKmsKeyRing: ring });
  assert.equal(inRing.keyRingID, ring);
  assert.equal((await getKey(kp, inRing.id)).keyRingID, ring);
  // Addressing it with the right ring header works; the list can be restricted to the ring.
  const viaRing = await kp.getKey({ bluemixInstance: bi, id: inRing.id, xKmsKeyRing: ring });
  assert.equal(viaRing.result.resources[0].id, inRing.id);
  const ringKeys = await listKeys(kp, { xKmsKeyRing: ring });
  assert.deepEqual(ids(ringKeys), [inRing.id]);
  const defaultKeys = await listKeys(kp, { xKmsKeyRing: 'default' });
  assert.ok(ids(defaultKeys).includes(k.id));
  assert.ok(!ids(defaultKeys).includes(inRing.id));

  // A ring holding a non-destroyed key cannot be deleted; an empty ring can.
  await expectError(kp.deleteKeyRing({ bluemixInstance: bi, keyRingId: ring }), 409);
  const dr = await kp.deleteKeyRing({ bluemixInstance: bi, keyRingId: empty });
  assert.equal(dr.status, 204);
  const list2 = await kp.listKeyRings({ bluemixInstance: bi });
  assert.ok(!list2.result.resources.map((r) => r.id).includes(empty));
  assert.ok(list2.result.resources.map((r) => r.id).includes(ring));

  // `default` is reserved.
  await expectError(kp.createKeyRing({ bluemixInstance: bi, keyRingId: 'default' }), [400, 409]);
  await expectError(kp.deleteKeyRing({ bluemixInstance: bi, keyRingId: 'default' }), [400, 409]);
  // Creating an existing ring is a conflict; deleting an unknown one is 404.
  await expectError(kp.createKeyRing({ bluemixInstance: bi, keyRingId: ring }), 409);
  await expectError(kp.deleteKeyRing({ bluemixInstance: bi, keyRingId: `node-none-${suffix()}` }), 404);
  // Creating a key in an unknown ring fails.
  await expectError(
    kp.createKey({
      bluemixInstance: bi,
      body: keyBody({ name: keyName('noring'), extractable: false }),
      xKmsKeyRing: `node-none-${suffix()}`,
    }),
    [400, 404],
  );

  await kp.deleteKey({ bluemixInstance: bi, id: inRing.id });
});

kpTest('syncAssociatedResources returns 204', async () => {
  const kp = srv.client();
  assert.equal(typeof kp.syncAssociatedResources, 'function');
  const k = await createRootKey(kp);
  const res = await kp.syncAssociatedResources({ bluemixInstance: bi, id: k.id });
  assert.equal(res.status, 204);
  assert.ok(!res.result);
});

kpTest('setKeyForDeletion and unsetKeyForDeletion refuse a key without dual authorization', async () => {
  const kp = srv.client();
  const k = await createRootKey(kp);
  await expectError(kp.setKeyForDeletion({ bluemixInstance: bi, id: k.id }), 409, { code: 'NOT_DUAL_AUTH_ERR' });
  await expectError(kp.unsetKeyForDeletion({ bluemixInstance: bi, id: k.id }), 409, { code: 'NOT_DUAL_AUTH_ERR' });
  // Deletion is not gated: the key has no dual-authorization policy.
  const res = await kp.deleteKey({ bluemixInstance: bi, id: k.id });
  assert.equal(res.status, 204);
});

const policyBody = (...resources) => ({
  metadata: { collectionType: POLICY_TYPE, collectionTotal: resources.length },
  resources: resources.map((r) => ({ type: POLICY_TYPE, ...r })),
});

kpTest('putPolicy and getPolicy set and read rotation and dual authorization', async () => {
  const kp = srv.client();
  const k = await createRootKey(kp);
  const empty = await kp.getPolicy({ bluemixInstance: bi, id: k.id });
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.result, { metadata: { collectionType: POLICY_TYPE, collectionTotal: 0 } });

  const set = await kp.putPolicy({
    bluemixInstance: bi,
    id: k.id,
    setKeyPoliciesOneOf: policyBody(
      { rotation: { enabled: true, interval_month: 2 } },
      { dualAuthDelete: { enabled: true } },
    ),
  });
  assert.equal(set.status, 200);
  assert.equal(set.result.metadata.collectionTotal, 2);
  assert.deepEqual(set.result.resources[0].rotation, { enabled: true, interval_month: 2 });
  assert.deepEqual(set.result.resources[1].dualAuthDelete, { enabled: true });
  for (const p of set.result.resources) {
    assert.equal(p.id, k.id);
    assert.equal(p.crn, k.crn);
  }
  const dual = await kp.getPolicy({ bluemixInstance: bi, id: k.id, policy: 'dualAuthDelete' });
  assert.equal(dual.result.resources.length, 1);
  assert.deepEqual(dual.result.resources[0].dualAuthDelete, { enabled: true });
  await expectError(
    kp.putPolicy({ bluemixInstance: bi, id: k.id, setKeyPoliciesOneOf: policyBody({ dualAuthDelete: { enabled: false } }) }),
    400,
    { code: 'INVALID_FIELD_ERR' },
  );
  await expectError(
    kp.putPolicy({
      bluemixInstance: bi,
      id: k.id,
      policy: 'rotation',
      setKeyPoliciesOneOf: policyBody({ dualAuthDelete: { enabled: true } }),
    }),
    400,
    { code: 'BODY_QUERY_PARAM_MISMATCH_ERR' },
  );
});

kpTest('a dual-authorization key is deleted by a second manager after the first sets it for deletion', async () => {
  const kp = srv.client();
  const k = await createRootKey(kp);
  await kp.putPolicy({
    bluemixInstance: bi,
    id: k.id,
    policy: 'dualAuthDelete',
    setKeyPoliciesOneOf: policyBody({ dualAuthDelete: { enabled: true } }),
  });
  const first = srv.client(await srv.newManager(`first-${suffix()}`));
  const second = srv.client(await srv.newManager(`second-${suffix()}`));
  await expectError(second.deleteKey({ bluemixInstance: bi, id: k.id }), 409, { code: 'AUTHORIZATIONS_NOT_MET' });
  assert.equal((await first.setKeyForDeletion({ bluemixInstance: bi, id: k.id })).status, 204);
  const meta = (await kp.getKeyMetadata({ bluemixInstance: bi, id: k.id })).result.resources[0];
  assert.equal(meta.dualAuthDelete.enabled, true);
  assert.equal(meta.dualAuthDelete.keySetForDeletion, true);
  assert.ok(!Number.isNaN(Date.parse(meta.dualAuthDelete.authExpiration)));
  await expectError(first.deleteKey({ bluemixInstance: bi, id: k.id }), 409, { code: 'AUTHORIZATIONS_NOT_MET' });
  assert.equal((await first.unsetKeyForDeletion({ bluemixInstance: bi, id: k.id })).status, 204);
  await expectError(second.deleteKey({ bluemixInstance: bi, id: k.id }), 409, { code: 'AUTHORIZATIONS_NOT_MET' });
  assert.equal((await first.setKeyForDeletion({ bluemixInstance: bi, id: k.id })).status, 204);
  assert.equal((await second.deleteKey({ bluemixInstance: bi, id: k.id })).status, 204);
  assert.equal((await getKey(kp, k.id)).state, 5);
});

const instancePolicy = (policyType, enabled, attributes) => ({
  policy_type: policyType,
  policy_data: attributes === undefined ? { enabled } : { enabled, attributes },
});
const instanceBody = (...resources) => ({
  metadata: { collectionType: POLICY_TYPE, collectionTotal: resources.length },
  resources,
});

kpTest('instance policies: putInstancePolicy, getInstancePolicy and getAllowedIpPort', async () => {
  // The suite's server is shared: everything set here is turned off again at the end.
  const kp = srv.client();
  try {
    const set = await kp.putInstancePolicy({
      bluemixInstance: bi,
      setInstancePoliciesOneOf: instanceBody(
        instancePolicy('dualAuthDelete', true),
        instancePolicy('allowedIP', true, { allowed_ip: ['127.0.0.0/8', '::1/128'] }),
        instancePolicy('keyCreateImportAccess', true, { create_root_key: false }),
      ),
    });
    assert.equal(set.status, 204);
    const listed = await kp.getInstancePolicy({ bluemixInstance: bi });
    assert.equal(listed.result.metadata.collectionTotal, 3);
    const types = listed.result.resources.map((p) => p.policy_type).sort();
    assert.deepEqual(types, ['allowedIP', 'dualAuthDelete', 'keyCreateImportAccess']);
    const ip = await kp.getInstancePolicy({ bluemixInstance: bi, policy: 'allowedIP' });
    assert.deepEqual(ip.result.resources[0].policy_data, {
      enabled: true,
      attributes: { allowed_ip: ['127.0.0.0/8', '::1/128'] },
    });
    const port = await kp.getAllowedIpPort({ bluemixInstance: bi });
    assert.deepEqual(port.result.resources, [{ private_endpoint_port: Number(new URL(srv.baseUrl).port) }]);
    await expectError(createRootKey(kp), 409, { code: 'KEY_CREATE_IMPORT_ACCESS_ERR' });
    const std = await createKey(kp, { name: keyName('instpol'), extractable: true });
    assert.equal(std.dualAuthDelete.enabled, true);
    await expectError(
      kp.putInstancePolicy({
        bluemixInstance: bi,
        policy: 'metrics',
        setInstancePoliciesOneOf: instanceBody(instancePolicy('rotation', false)),
      }),
      400,
      { code: 'BODY_QUERY_PARAM_MISMATCH_ERR' },
    );
  } finally {
    await kp.putInstancePolicy({
      bluemixInstance: bi,
      setInstancePoliciesOneOf: instanceBody(
        instancePolicy('dualAuthDelete', false),
        instancePolicy('allowedIP', false),
        instancePolicy('keyCreateImportAccess', false),
      ),
    });
  }
  const none = await kp.getAllowedIpPort({ bluemixInstance: bi });
  assert.equal(none.result.metadata.collectionTotal, 0);
});

/** The client's side of secure import: the material under the token's RSA key (OAEP, SHA-256), the nonce under the material (AES-GCM). */
function sealForImport(token, material) {
  const pem = unb64(token.payload).toString('utf8');
  const payload = crypto.publicEncrypt(
    { key: pem, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    material,
  );
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv(`aes-${material.length * 8}-gcm`, material, iv);
  const sealed = Buffer.concat([cipher.update(unb64(token.nonce)), cipher.final(), cipher.getAuthTag()]);
  return { payload: b64(payload), encryptedNonce: b64(sealed), iv: b64(iv), encryptionAlgorithm: 'RSAES_OAEP_SHA_256' };
}

kpTest('postImportToken, getImportToken and secure import of a root key', async () => {
  const kp = srv.client();
  const made = await kp.postImportToken({ bluemixInstance: bi, expiration: 600, maxAllowedRetrievals: 1 });
  assert.equal(made.status, 200);
  assert.equal(made.result.remainingRetrievals, 1);
  const token = (await kp.getImportToken({ bluemixInstance: bi })).result;
  assert.equal(token.remainingRetrievals, 0);
  assert.ok(unb64(token.payload).toString('utf8').startsWith('-----BEGIN PUBLIC KEY-----'));
  await expectError(kp.getImportToken({ bluemixInstance: bi }), 409, { code: 'IMPORT_TOKEN_EXPIRED_ERR' });

  const material = crypto.randomBytes(32);
  const wrongNonce = sealForImport({ payload: token.payload, nonce: b64(Buffer.alloc(12)) }, material);
  await expectError(
    createKey(kp, { name: keyName('badnonce'), extractable: false, ...wrongNonce }),
    400,
    { code: 'INCORRECT_NONCE_ERR' },
  );
  const k = await createKey(kp, { name: keyName('secure'), extractable: false, ...sealForImport(token, material) });
  assert.equal(k.imported, true);
  const dek = crypto.randomBytes(32);
  const w = await wrap(kp, k.id, { plaintext: b64(dek) });
  assert.deepEqual(unb64((await unwrap(kp, k.id, { ciphertext: w.ciphertext })).plaintext), dek);

  await kp.postImportToken({ bluemixInstance: bi });
  const next = (await kp.getImportToken({ bluemixInstance: bi })).result;
  const rotated = await kp.rotateKey({
    bluemixInstance: bi,
    id: k.id,
    keyActionRotateBody: sealForImport(next, crypto.randomBytes(24)),
  });
  assert.equal(rotated.status, 204);
  assert.notEqual((await getKey(kp, k.id)).keyVersion.id, k.keyVersion.id);
});

/** Registers a resource on a key as a service does (the SDK has no call for it). */
async function register(keyId, crn, prevent = false) {
  const res = await fetch(`${srv.baseUrl}/api/v2/keys/${keyId}/registrations/${encodeURIComponent(crn)}`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${await srv.token()}`,
      'Bluemix-Instance': bi,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({ resources: [{ preventKeyDeletion: prevent, description: 'node suite' }] }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 201, await res.text());
}

kpTest('getRegistrations and getRegistrationsAllKeys', async () => {
  const kp = srv.client();
  const [a, b] = [await createRootKey(kp), await createRootKey(kp)];
  const tag = suffix();
  const crnA = `crn:v1:keyward:local:configsvc:local:a/node:${tag}-a::`;
  const crnB = `crn:v1:keyward:local:configsvc:local:a/node:${tag}-b::`;
  await register(a.id, crnA, true);
  await register(b.id, crnB);
  const one = await kp.getRegistrations({ bluemixInstance: bi, id: a.id, totalCount: true });
  assert.equal(one.status, 200);
  assert.equal(one.result.metadata.totalCount, 1);
  assert.equal(one.result.resources[0].resourceCrn, crnA);
  assert.equal(one.result.resources[0].preventKeyDeletion, true);
  const all = await kp.getRegistrationsAllKeys({ bluemixInstance: bi, urlEncodedResourceCrnQuery: `*:${tag}-*` });
  assert.deepEqual(all.result.resources.map((r) => r.resourceCrn).sort(), [crnA, crnB]);
  const kept = await kp.getRegistrationsAllKeys({
    bluemixInstance: bi,
    urlEncodedResourceCrnQuery: `*:${tag}-*`,
    preventKeyDeletion: false,
  });
  assert.deepEqual(kept.result.resources.map((r) => r.keyId), [b.id]);
  await expectError(kp.deleteKey({ bluemixInstance: bi, id: a.id }), 409);
});

kpTest('authentication and instance errors', async () => {
  // Bad API key: the IAM token request fails with 400 BXNIM0415E (as IBM IAM answers) and the SDK call rejects.
  const badKey = new KeyProtectV2({
    authenticator: new IamAuthenticator({ apikey: `not-a-valid-key-${suffix()}`, url: srv.baseUrl }),
    serviceUrl: srv.baseUrl,
    timeout: 30_000,
  });
  await expectError(badKey.getKeys({ bluemixInstance: bi }), 400, { envelope: false });

  // Garbage bearer token: the KMS call itself is 401.
  const garbage = new KeyProtectV2({
    authenticator: new BearerTokenAuthenticator({ bearerToken: `garbage.${suffix()}.token` }),
    serviceUrl: srv.baseUrl,
  });
  await expectError(garbage.getKeys({ bluemixInstance: bi }), 401);
  await expectError(
    garbage.createKey({ bluemixInstance: bi, body: keyBody({ name: keyName('x'), extractable: false }) }),
    401,
  );

  // No Authorization header at all.
  const noAuth = new KeyProtectV2({ authenticator: new NoAuthAuthenticator(), serviceUrl: srv.baseUrl });
  await expectError(noAuth.getKeys({ bluemixInstance: bi }), 401);

  const kp = srv.client();
  // Non-UUID Bluemix-Instance -> 400.
  await expectError(kp.getKeys({ bluemixInstance: 'not-a-uuid' }), 400);
  // Unknown instance UUID -> 403 or 404.
  await expectError(kp.getKeys({ bluemixInstance: crypto.randomUUID() }), [403, 404]);
  await expectError(
    kp.createKey({ bluemixInstance: crypto.randomUUID(), body: keyBody({ name: keyName('x'), extractable: false }) }),
    [403, 404],
  );
});
