/**
 * results.js: the measured decision matrix as the comparison page shows
 * it, from GET /api/compare/{id}.
 *
 * The answer has one row per model ({model, run, status, wall_ns, cpu_ns,
 * cpu_utilization, speedup, peak_rss_bytes, lost_updates?, correct,
 * verdict}), the winner per criterion ({wall, cpu, memory}) or, when the
 * best were within the measured noise of each other, the tie ({wall:
 * [models]}), the noise itself ({wall: 0.1}), and the rule of thumb beside
 * the measurement ({recommended, measured, tied, agrees, note}). The server
 * names no winner until every model has finished; neither does this module.
 * This module turns it into table cells and matrix highlights; compare.js
 * puts them on the page. It is pure: tested without a browser.
 */

import { formatDuration } from './axis.js';
import { formatBytes, statusText } from './format.js';
import { isFinal, isComparisonOver, FINAL_COMPARISON_STATUSES } from './protocol.js';

/**
 * FINAL_COMPARISON are the statuses after which a comparison changes no
 * more (generated from the server's definitions): a run's final ones, and
 * partial, a comparison that ran to its end with a model that did not
 * finish well.
 */
export const FINAL_COMPARISON = FINAL_COMPARISON_STATUSES;

/** isFinalComparison reports whether a comparison is over. */
export function isFinalComparison(status) {
  return isComparisonOver(status);
}

/**
 * COLUMNS are the results table's measured columns: the key of the cell,
 * its heading, and the criterion whose winner it highlights (if any).
 */
export const COLUMNS = Object.freeze([
  { key: 'wall', label: 'wall time', winner: 'wall' },
  { key: 'cpu', label: 'CPU time', winner: 'cpu' },
  { key: 'utilization', label: 'CPU utilisation', winner: '' },
  { key: 'speedup', label: 'speedup', winner: 'wall' },
  { key: 'memory', label: 'peak memory', winner: 'memory' },
  { key: 'correct', label: 'correct', winner: '' },
]);

/** BEST names what a winning cell is best at, for its badge. */
export const BEST = Object.freeze({ wall: 'fastest', cpu: 'least CPU', memory: 'least memory' });

/**
 * JUDGED are the statuses of a comparison whose every model ran to its end
 * (partial: one failed, and never wins): only then are winners named.
 */
const JUDGED = Object.freeze(['done', 'partial']);

/** TIE names what tied cells share, for their badge: no model won. */
export const TIE = Object.freeze({ wall: 'tie: fastest', cpu: 'tie: least CPU', memory: 'tie: least memory' });

/** CRITERIA names each criterion in words, for the noise note. */
const CRITERIA = Object.freeze({ wall: 'wall time', cpu: 'CPU time', memory: 'memory' });

/** measured reports whether a row has numbers (its run finished with a summary). */
function measured(row) {
  return row.wall_ns > 0;
}

/**
 * resultRows returns the table's rows: {model, run, status, statusText,
 * verdict, cells: [{key, text, winner, tie, best, title}]}, in the answer's
 * order. A cell is a winner (or tied) only once the comparison is done.
 */
export function resultRows(result) {
  const done = JUDGED.includes(result.status);
  const winners = done ? result.winners || {} : {};
  const ties = done ? result.ties || {} : {};
  const baseline = result.baseline || '';
  return (result.models || []).map((row) => {
    const has = measured(row);
    const cell = (key, text, title = '') => {
      const col = COLUMNS.find((c) => c.key === key);
      const winner = has && !!col.winner && winners[col.winner] === row.model;
      const tie = has && !!col.winner && !winner && (ties[col.winner] || []).includes(row.model);
      return { key, text, winner, tie, best: winner ? BEST[col.winner] : tie ? TIE[col.winner] : '', title };
    };
    let correct = '';
    if (row.lost_updates !== undefined && row.lost_updates !== null) {
      correct = row.lost_updates === 0 ? '✓ no lost updates' : `✗ ${row.lost_updates.toLocaleString('en')} lost updates`;
    } else if (row.status === 'done') {
      correct = row.correct ? '✓ correct' : '✗ wrong result';
    } else if (isFinal(row.status)) {
      correct = `✗ ${statusText(row.status)}`;
    }
    let speedup = '';
    if (has && row.speedup > 0) speedup = `${row.speedup.toFixed(2)}×${row.model === baseline ? ' (baseline)' : ''}`;
    return {
      model: row.model,
      run: row.run || '',
      status: row.status || 'queued',
      // A model without a run waits for its turn, unless the comparison
      // ended first (cancelled): then it says so.
      statusText: row.run || (row.status && row.status !== 'queued') ? statusText(row.status) : 'waiting',
      verdict: row.verdict || '',
      cells: [
        cell('wall', has ? formatDuration(row.wall_ns) : ''),
        cell('cpu', has && row.cpu_ns > 0 ? formatDuration(row.cpu_ns) : ''),
        cell('utilization', has && row.cpu_utilization > 0 ? `${Math.round(row.cpu_utilization * 100)} %` : '',
          'CPU time over wall time: above 100 % means several cores worked at once'),
        cell('speedup', speedup, baseline ? `wall time of ${baseline} over this model's` : ''),
        cell('memory', row.peak_rss_bytes > 0 ? formatBytes(row.peak_rss_bytes) : '', 'peak resident memory of every process of the model'),
        cell('correct', correct),
      ],
    };
  });
}

/** speedupHeading is the speedup column's heading, naming the baseline. */
export function speedupHeading(result) {
  return result.baseline ? `speedup vs ${result.baseline}` : 'speedup';
}

/**
 * ruleState says how the measurement compares with the guide's rule for
 * the comparison's workload: {workload, recommended, measured, tied, agrees
 * (null until known), note}. Nothing is measured until the comparison is
 * done; a tie names every tied model and always keeps its note.
 */
export function ruleState(result) {
  const rule = result.rule || {};
  const tied = rule.tied || [];
  const done = JUDGED.includes(result.status) && (!!rule.measured || tied.length > 0);
  return {
    workload: result.workload || '',
    recommended: rule.recommended || [],
    measured: done ? rule.measured || '' : '',
    tied: done ? tied : [],
    agrees: done ? !!rule.agrees : null,
    note: done && (!rule.agrees || tied.length > 0) ? rule.note || '' : '',
  };
}

/**
 * noiseText says within what difference two models tie, from the answer's
 * measured noise: "Differences within 10 % (wall time), 15 % (CPU time) and
 * 5 % (memory) are ties: this machine's run-to-run noise."
 */
export function noiseText(result) {
  const noise = result.noise || {};
  const parts = Object.keys(CRITERIA).filter((k) => noise[k] > 0).map((k) => `${Math.round(noise[k] * 100)} % (${CRITERIA[k]})`);
  if (parts.length === 0) return '';
  const list = parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  return `Differences within ${list} are ties: this machine's run-to-run noise, measured. A winner is named once every model has finished.`;
}

/** progressText is the comparison's status line: which model runs, how many are done. */
export function progressText(result) {
  // On several engines every engine's models count, named engine/model.
  const models = engineSlots(result).map((s) => ({ ...s.row, model: s.key }));
  const finished = models.filter((m) => m.run && isFinal(m.status)).length;
  if (result.status === 'done') return `done: ${models.length} models measured`;
  if (result.status === 'failed') return `failed${result.error ? `: ${result.error}` : ''}`;
  if (result.status === 'cancelled') return `cancelled${result.error ? `: ${result.error}` : ''}`;
  if (result.status === 'interrupted') return `interrupted${result.error ? `: ${result.error}` : ''}`;
  if (result.status === 'partial') {
    const good = models.filter((m) => m.status === 'done').length;
    return `partial: ${good} of ${models.length} models measured${result.error ? ` (${result.error})` : ''}`;
  }
  if (isComparisonOver(result.status)) return `${statusText(result.status)}${result.error ? `: ${result.error}` : ''}`;
  const current = models.find((m) => m.run && !isFinal(m.status));
  if (current) return `running ${current.model} (${finished + 1} of ${models.length})`;
  return `starting (${finished} of ${models.length} done)`;
}

/** compareRequest is the body of POST /api/compare from the form's values. */
export function compareRequest(fields) {
  const workers = Number.parseInt(fields.workers, 10);
  return {
    workload: fields.workload || '',
    engine: fields.engine || '',
    size: fields.size || '',
    workers: Number.isFinite(workers) ? workers : 0,
  };
}

/** fieldOfCompareError names the form field an API error is about ("engine: …"), or ''. */
export function fieldOfCompareError(message) {
  const m = /^(workload|engine|size|workers|model):/.exec(message || '');
  return m ? m[1] : '';
}

/**
 * GROUP_COLUMNS are the columns of each engine's group when a comparison
 * runs on several engines, so that the table stays readable with three
 * groups beside the guide's matrix; each run's verdict below the table
 * gives its CPU time.
 */
export const GROUP_COLUMNS = Object.freeze(['wall', 'speedup', 'correct']);

/**
 * engineSlots lists the timelines of a comparison, in the order its runs
 * go: {key, engine, model, row} per model, and per engine when it runs on
 * several (key "engine/model"; on one engine the key is the model, as the
 * server names it).
 */
export function engineSlots(result) {
  const groups = result.groups || [];
  if (groups.length < 2) {
    return (result.models || []).map((row) => ({ key: row.model, engine: result.engine || '', model: row.model, row }));
  }
  return groups.flatMap((g) => (g.models || []).map((row) => ({ key: `${g.engine}/${row.model}`, engine: g.engine, model: row.model, row })));
}

/**
 * groupedTable is the results table of a comparison over several engines:
 * one column group per engine (GROUP_COLUMNS each), one row per model,
 * {engines, columns, rows: [{model, groups: [{engine, run, status,
 * statusText, verdict, cells}]}]}; each group's winners and ties are its
 * own engine's. null for a comparison on one engine.
 */
export function groupedTable(result) {
  const groups = result.groups || [];
  if (groups.length < 2) return null;
  const perEngine = groups.map((g) => ({
    engine: g.engine,
    rows: resultRows({ status: result.status, winners: g.winners, ties: g.ties, baseline: g.baseline, models: g.models }),
  }));
  const models = perEngine[0].rows.map((r) => r.model);
  return {
    engines: groups.map((g) => g.engine),
    columns: GROUP_COLUMNS.map((key) => COLUMNS.find((c) => c.key === key)),
    rows: models.map((model) => ({
      model,
      groups: perEngine.map(({ engine, rows }) => {
        const r = rows.find((x) => x.model === model) || { run: '', status: 'queued', statusText: 'waiting', verdict: '', cells: [] };
        return { engine, run: r.run, status: r.status, statusText: r.statusText, verdict: r.verdict, cells: r.cells.filter((c) => GROUP_COLUMNS.includes(c.key)) };
      }),
    })),
  };
}
