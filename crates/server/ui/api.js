// Calls to the server: the token exchange, the fetch wrapper and errors as one line for a person.
// Tokens pass through here and are kept by session.js, in memory only; nothing is logged.

const GRANT_TYPE = 'urn:ibm:params:oauth:grant-type:apikey';

// ------------------------------------------------------------------ errors

export class ApiError extends Error {
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
export function messageOf(error) {
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
export async function requestToken(apikey) {
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
export function decodeClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------ API calls

/**
 * The session calls are made for: `epoch()` (answers of an older one are dropped),
 * `kmsInstance()` and `token(force)`, a valid access token. session.js provides it when it loads;
 * it imports this module, so this module does not import it.
 */
let sessionSource = null;

export function useSession(source) {
  sessionSource = source;
}

/**
 * Calls the API with the session's token. `kms: true` adds the KMS instance header. A 401 is
 * retried once with a fresh token (the token may have been revoked or expired early).
 */
export async function api(method, path, { body, kms = false, headers = {} } = {}) {
  const epoch = sessionSource.epoch();
  const send = async (token) => {
    const all = { accept: 'application/json', authorization: `Bearer ${token}`, ...headers };
    if (kms) all['bluemix-instance'] = sessionSource.kmsInstance();
    if (body !== undefined) all['content-type'] = 'application/json';
    return fetch(path, {
      method,
      headers: all,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  };
  let response = await send(await sessionSource.token());
  if (response.status === 401) response = await send(await sessionSource.token(true));
  const data = await readBody(response);
  if (epoch !== sessionSource.epoch()) throw new Error('SIGNED_OUT: the session changed');
  if (!response.ok) throw new ApiError(method, path, response.status, data);
  return data;
}

export const kmsGet = (path) => api('GET', path, { kms: true });
export const encode = encodeURIComponent;
