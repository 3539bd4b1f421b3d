'use strict';
// Starts and stops a real `keyward serve` process for the Node SDK compatibility suite,
// and offers the few raw HTTP calls the suite needs outside the SDK (IAM token for the
// test clock, test-clock advance, best-effort cleanup).
//
// Contract (see tests/sdk/README.md):
//   $KEYWARD_BIN serve --data-dir <tmp> --listen 127.0.0.1:<port> --unsafe-test-clock
//   readiness: GET /healthz -> 200 (30 s timeout)
//   <tmp>/admin.apikey, <tmp>/bootstrap.json {account_id, kms_instance_id, url}
//   POST /identity/token (IBM form) -> {access_token}
//   POST /admin/test-clock {advance_seconds} -> {now}

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const KeyProtectV2 = require('@ibm-cloud/ibm-key-protect/ibm-key-protect-api/v2');
const { IamAuthenticator } = require('@ibm-cloud/ibm-key-protect/auth');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const READY_TIMEOUT_MS = 30_000;

function resolveBinary() {
  const raw = process.env.KEYWARD_BIN || 'target/debug/keyward';
  const bin = path.isAbsolute(raw) ? raw : path.resolve(REPO_ROOT, raw);
  if (!fs.existsSync(bin)) {
    throw new Error(
      `keyward binary not found at ${bin} (KEYWARD_BIN=${process.env.KEYWARD_BIN || '<unset>'}); ` +
        'build it first (cargo build) or point KEYWARD_BIN at it',
    );
  }
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tail(file, n = 60) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch (e) {
    return `<no log: ${e.message}>`;
  }
}

class KeywardServer {
  constructor() {
    this.proc = null;
    this.exited = null; // {code, signal} once the process has exited
    this.dataDir = null;
    this.logFile = null;
    this.port = null;
    this.baseUrl = null;
    this.apikey = null;
    this.accountId = null;
    this.instanceId = null;
    this._onExit = () => this._killSync();
  }

  async start() {
    const bin = resolveBinary();
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyward-node-sdk-'));
    this.logFile = path.join(this.dataDir, 'server.log');
    this.port = await freePort();
    // run.sh serves HTTPS with a development CA (NODE_EXTRA_CA_CERTS points at it).
    const tlsDir = process.env.KEYWARD_SDK_TLS_DIR;
    const tlsArgs = tlsDir
      ? ['--tls-cert', path.join(tlsDir, 'cert.pem'), '--tls-key', path.join(tlsDir, 'key.pem')]
      : [];
    this.baseUrl = `${tlsDir ? 'https' : 'http'}://127.0.0.1:${this.port}`;
    const logFd = fs.openSync(this.logFile, 'a');
    // The environment is passed through unchanged (KEYWARD_DATABASE_URL selects PostgreSQL).
    this.proc = spawn(
      bin,
      ['serve', '--data-dir', this.dataDir, '--listen', `127.0.0.1:${this.port}`, '--unsafe-test-clock', ...tlsArgs],
      { stdio: ['ignore', logFd, logFd], env: process.env },
    );
    fs.closeSync(logFd);
    this.proc.on('exit', (code, signal) => {
      this.exited = { code, signal };
    });
    this.proc.on('error', (err) => {
      this.exited = { code: null, signal: null, error: err };
    });
    process.on('exit', this._onExit);

    await this._waitReady();
    await this._readBootstrap();
    return this;
  }

  _failStart(msg) {
    const log = tail(this.logFile);
    this._killSync();
    process.removeListener('exit', this._onExit);
    if (this.dataDir && !process.env.KEYWARD_KEEP_DATA) {
      fs.rmSync(this.dataDir, { recursive: true, force: true });
    }
    throw new Error(`${msg}\n--- keyward log (${this.logFile}) ---\n${log}`);
  }

  async _waitReady() {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastErr = 'no attempt';
    while (Date.now() < deadline) {
      if (this.exited) {
        this._failStart(`keyward exited before becoming ready: ${JSON.stringify(this.exited)}`);
      }
      try {
        const res = await fetch(`${this.baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) return;
        lastErr = `HTTP ${res.status}`;
      } catch (e) {
        lastErr = e.message;
      }
      await sleep(100);
    }
    this._failStart(`keyward not ready after ${READY_TIMEOUT_MS / 1000}s (last: ${lastErr})`);
  }

  async _readBootstrap() {
    // The files are written at start-up; allow a short grace period after /healthz.
    const apikeyFile = path.join(this.dataDir, 'admin.apikey');
    const bootFile = path.join(this.dataDir, 'bootstrap.json');
    const deadline = Date.now() + 5000;
    let lastErr;
    while (Date.now() < deadline) {
      try {
        const apikey = fs.readFileSync(apikeyFile, 'utf8').trim();
        const boot = JSON.parse(fs.readFileSync(bootFile, 'utf8'));
        if (apikey && boot.kms_instance_id) {
          this.apikey = apikey;
          this.accountId = String(boot.account_id);
          this.instanceId = boot.kms_instance_id;
          if (boot.url && boot.url.replace(/\/+$/, '') !== this.baseUrl) {
            this._failStart(`bootstrap.json url ${boot.url} != ${this.baseUrl}`);
          }
          return;
        }
        lastErr = 'empty admin.apikey or missing kms_instance_id';
      } catch (e) {
        lastErr = e.message;
      }
      await sleep(100);
    }
    this._failStart(`could not read admin.apikey/bootstrap.json in ${this.dataDir}: ${lastErr}`);
  }

  /** A new SDK client with its own IamAuthenticator (hence its own token cache). */
  client(apikey = this.apikey) {
    return new KeyProtectV2({
      authenticator: new IamAuthenticator({ apikey, url: this.baseUrl }),
      serviceUrl: this.baseUrl,
      timeout: 30_000,
    });
  }

  /** Raw IBM-form token request (used only for the non-SDK admin endpoints). */
  async token() {
    const res = await fetch(`${this.baseUrl}/identity/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'urn:ibm:params:oauth:grant-type:apikey',
        apikey: this.apikey,
      }).toString(),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`token request failed: HTTP ${res.status} ${text}`);
    return JSON.parse(text).access_token;
  }

  /**
   * A new user of the bootstrap account with the Manager role on the KMS instance, made
   * through the IAM API as an administrator would; resolves to its API key.
   */
  async newManager(name) {
    const tok = await this.token();
    const post = async (urlPath, body) => {
      const res = await fetch(`${this.baseUrl}${urlPath}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`POST ${urlPath}: HTTP ${res.status} ${text}`);
      return JSON.parse(text);
    };
    const { iam_id: iamId } = await post('/v1/users', { name });
    const { apikey } = await post('/v1/apikeys', { name: `${name} key`, iam_id: iamId });
    await post('/v1/policies', {
      type: 'access',
      subjects: [{ attributes: [{ name: 'iam_id', value: iamId }] }],
      roles: [{ role_id: 'crn:v1:bluemix:public:iam::::serviceRole:Manager' }],
      resources: [
        {
          attributes: [
            { name: 'serviceName', value: 'kms' },
            { name: 'serviceInstance', value: this.instanceId },
          ],
        },
      ],
    });
    return apikey;
  }

  /**
   * Advance the server's test clock. Tokens issued before the advance may be expired in
   * server time afterwards, so callers must use a fresh `client()` after calling this.
   */
  async advanceClock(seconds) {
    const tok = await this.token();
    const res = await fetch(`${this.baseUrl}/admin/test-clock`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ advance_seconds: seconds }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`test-clock advance failed: HTTP ${res.status} ${text}`);
    return JSON.parse(text).now;
  }

  /** Best-effort raw request for cleanup only (never used for assertions). */
  async rawKms(method, urlPath) {
    try {
      const tok = await this.token();
      const res = await fetch(`${this.baseUrl}${urlPath}`, {
        method,
        headers: { Authorization: `Bearer ${tok}`, 'Bluemix-Instance': this.instanceId },
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      return res.status;
    } catch (e) {
      return e.message;
    }
  }

  _killSync() {
    if (this.proc && !this.exited) {
      try {
        this.proc.kill('SIGKILL');
      } catch (_) {
        /* already gone */
      }
    }
  }

  async stop() {
    process.removeListener('exit', this._onExit);
    if (this.proc && !this.exited) {
      this.proc.kill('SIGTERM');
      const deadline = Date.now() + 5000;
      while (!this.exited && Date.now() < deadline) await sleep(50);
      if (!this.exited) {
        this.proc.kill('SIGKILL');
        const d2 = Date.now() + 2000;
        while (!this.exited && Date.now() < d2) await sleep(50);
      }
    }
    if (this.dataDir) {
      if (process.env.KEYWARD_KEEP_DATA) {
        console.log(`# keyward data dir kept: ${this.dataDir}`);
      } else {
        fs.rmSync(this.dataDir, { recursive: true, force: true });
      }
    }
  }
}

async function startServer() {
  const s = new KeywardServer();
  await s.start();
  return s;
}

module.exports = { startServer, KeywardServer, resolveBinary, REPO_ROOT };
