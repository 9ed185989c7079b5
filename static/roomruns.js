/**
 * roomruns.js: the presenter's table of the room's runs (who started what,
 * its status and verdict, and a Show button). Rows are keyed by run and
 * updated in place: a table rebuilt on every status change would drop the
 * keyboard focus of a Show button and could swallow a click that lands
 * between two updates.
 */

import { el } from './roomdom.js';

const HEADINGS = ['started by', 'scenario and settings', 'status', 'verdict', ''];

/** drawRuns shows room.runs in box, reusing the rows of runs shown before. */
export function drawRuns(box, runs) {
  if (runs.length === 0) {
    if (!box.querySelector('p.empty')) box.replaceChildren(el('p', { class: 'empty', text: 'No runs yet.' }));
    return;
  }
  let table = box.querySelector('#room-runs-table');
  if (!table) {
    table = el('table', { id: 'room-runs-table', class: 'runs' },
      el('thead', {}, el('tr', {}, ...HEADINGS.map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody'));
    box.replaceChildren(table);
  }
  const body = table.tBodies[0];
  const old = new Map([...body.rows].map((tr) => [tr.dataset.run, tr]));
  runs.forEach((r, i) => {
    let tr = old.get(r.id);
    old.delete(r.id);
    if (!tr) tr = newRow(r.id);
    fillRow(tr, r);
    if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] || null);
  });
  for (const tr of old.values()) tr.remove();
}

/** newRow makes the row of run id, its cells empty. */
function newRow(id) {
  return el('tr', { 'data-run': id },
    el('td', { class: 'run-label' }),
    el('td', {}, el('strong'), ' ', el('code', { class: 'run-params' })),
    el('td', {}, el('span', { class: 'status' })),
    el('td', { class: 'run-verdict' }),
    el('td', {}, el('button', { type: 'button', class: 'room-show', onclick: () => location.assign(`/r/${encodeURIComponent(id)}`), text: 'Show' })));
}

/** fillRow writes run r into its row, touching only what changed. */
function fillRow(tr, r) {
  const [label, what, status, verdict] = tr.cells;
  setText(label, r.label);
  setText(what.querySelector('strong'), r.scenario);
  setText(what.querySelector('code'), paramsText(r));
  const badge = status.querySelector('.status');
  setText(badge, r.status === 'queued' && r.position ? `queued (#${r.position})` : r.status);
  if (tr.dataset.status !== r.status) {
    tr.dataset.status = r.status;
    badge.dataset.status = r.status;
  }
  setText(verdict, r.verdict || '');
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** paramsText writes a run's settings: engine=go workers=4 … */
function paramsText(r) {
  return [`engine=${r.engine}`, ...Object.entries(r.params || {}).map(([k, v]) => `${k}=${v}`)].join(' ');
}
