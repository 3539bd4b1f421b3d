// The audit view: the account's audit events, newest first, with a search and a failure filter.

import { api, messageOf } from './api.js';
import { $, code, formatDate, h, setError, setStatus, shortId, show } from './dom.js';
import { session } from './session.js';

const AUDIT_PAGE = 1000;
const AUDIT_KEPT = 500;
const AUDIT_SHOWN = 200;

const auditView = { events: [], cursor: 0, read: 0, load: 0 };

/** Forgets every event read (at sign-out). */
export function forgetAudit() {
  Object.assign(auditView, { events: [], cursor: 0, read: 0 });
  $('#audit-body').replaceChildren();
}

/**
 * Reads the events after the last one read (the API pages oldest first), keeps the newest
 * AUDIT_KEPT and shows them newest first.
 */
export async function loadAudit() {
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

export function renderAudit() {
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
