// Small DOM helpers: element creation, display formats, the toast and the confirmation dialog.
// Server data goes through `h` (text children become text nodes) or textContent, never innerHTML.

export const $ = (selector) => document.querySelector(selector);

/** An element with attributes, listeners (`onclick`) and children (nodes or plain text). */
export function h(tag, props = {}, ...children) {
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

export function show(el, visible = true) {
  el.hidden = !visible;
}

/** Shows `message` in an error element (one line), or hides it when empty. */
export function setError(el, message) {
  el.textContent = message || '';
  show(el, Boolean(message));
}

export function setStatus(el, message) {
  el.textContent = message || '';
}

export function actionButton(label, onclick, extra = '') {
  return h('button', { type: 'button', class: extra || null, onclick }, label);
}

export function code(text) {
  return h('code', { class: 'code' }, text);
}

// ------------------------------------------------------------------ display formats

/** `2026-11-30T21:23:08Z` → `2026-11-30 21:23:08`; empty for nothing. */
export function formatDate(value) {
  if (!value) return '';
  return String(value).replace('T', ' ').replace(/(\.\d+)?Z$/, '');
}

/** A table cell's date: the day, with the full time as its tooltip. */
export function dateCell(value) {
  if (!value) return h('td', {}, '—');
  return h('td', { class: 'nowrap', title: formatDate(value) }, formatDate(value).slice(0, 10));
}

export function shortId(id) {
  return id ? `${String(id).slice(0, 8)}…` : '';
}

// ------------------------------------------------------------------ toast

let noticeTimer = null;

/** A short confirmation of what was done, in a toast that goes away by itself. */
export function notify(message) {
  $('#announcer').textContent = message;
  $('#notice-text').textContent = message;
  show($('#notice'));
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(dismissNotice, 8000);
}

export function dismissNotice() {
  clearTimeout(noticeTimer);
  show($('#notice'), false);
}

export async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    notify(`${what} copied.`);
  } catch {
    notify(`Copying is not allowed here; select the ${what} and copy it by hand.`);
  }
}

// ------------------------------------------------------------------ confirmation dialog

/**
 * Asks for confirmation in the page's own dialog. `body` is a list of paragraphs, each a string
 * or a list of strings and nodes. Resolves to true when confirmed.
 */
export function confirmAction({ title, body, confirmLabel, danger = false }) {
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
