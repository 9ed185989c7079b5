// viewer-panels.js: the Viewer's panels beside the timeline: what the run
// printed (one block per process, up to the replay cursor) and the summary
// (the verdict, the caveat and the metrics, or the counters as of the
// cursor). Methods of Viewer (joined to its prototype in viewer.js), so
// `this` is the viewer.
import { formatMetric, formatValue, withPid } from './format.js';
import { formatDuration } from './axis.js';

/** CAVEATS are the prefixes of server marks that qualify a run's numbers. */
const CAVEATS = ['shared the machine', 'truncated', 'output truncated', 'memory cap'];

/** emptyNote is the placeholder of an empty panel. */
export function emptyNote(text) {
  const p = document.createElement('p');
  p.className = 'empty';
  p.textContent = text;
  return p;
}

export const panelMethods = {
  /** showOutputs shows what was printed (up to the cursor), one block per process. */
  showOutputs() {
    const m = this.model;
    const box = this.parts.output;
    if (!box) return;
    const list = m.outputsUntil(m.cut);
    const shown = this.outputsShown;
    if (shown > list.length || (shown > 0 && list[shown - 1] !== this.lastOutput)) {
      // The cursor went back: start again.
      box.replaceChildren(emptyNote('Nothing printed yet.'));
      this.outputBlocks = new Map();
      this.outputsShown = 0;
    }
    if (this.outputsShown >= list.length) return;
    if (this.outputsShown === 0) box.replaceChildren();
    for (; this.outputsShown < list.length; this.outputsShown++) {
      const o = list[this.outputsShown];
      const lane = m.lanes.get(o.lane);
      const key = lane?.pid ? `pid ${lane.pid}` : o.lane || 'run';
      let block = this.outputBlocks.get(key);
      if (!block) {
        const section = document.createElement('section');
        section.className = 'process-output';
        const h = document.createElement('h3');
        h.textContent = lane ? withPid(lane.name, lane.pid) : key;
        const pre = document.createElement('pre');
        section.append(h, pre);
        box.append(section);
        block = { pre, last: null, lastStream: '' };
        this.outputBlocks.set(key, block);
      }
      if (block.last && block.lastStream === o.stream) {
        block.last.appendData(o.text);
        continue;
      }
      const text = document.createTextNode(o.text);
      if (o.stream === 'stderr') {
        const span = document.createElement('span');
        span.className = 'stderr';
        span.append(text);
        block.pre.append(span);
      } else {
        block.pre.append(text);
      }
      block.last = text;
      block.lastStream = o.stream;
    }
    this.lastOutput = list[list.length - 1];
  },

  /**
   * showSummary writes the end event's verdict and metrics; during a replay
   * before the end, the position and the counters as of then.
   */
  showSummary() {
    const m = this.model;
    const section = this.parts.summary;
    if (!section) return;
    let heading = 'What this run measured';
    let verdict;
    let caveat = '';
    let rows;
    if (m.cursor !== null && !m.endedBy(m.cursor)) {
      const at = formatDuration(m.cursor);
      heading = `As of ${at}`;
      verdict = `Replay at ${at} of ${formatDuration(m.openEnd)}: the run has not ended yet, so there is no verdict.`;
      rows = [['replay position', at]];
      for (const c of m.countersAt(m.cursor)) rows.push([c.name, c.value === undefined ? 'no value yet' : formatValue(c.value)]);
    } else if (m.summary) {
      const summary = m.summary;
      verdict = summary.verdict || '';
      caveat = summary.caveat || '';
      // Caveats the server added about how the run was measured.
      for (const mark of m.marks) {
        if (!mark.lane && CAVEATS.some((p) => mark.label.startsWith(p))) verdict += ` Note: ${mark.label}.`;
      }
      rows = [
        ['wall time', formatDuration(summary.wall_ns)],
        ['CPU time', formatDuration(summary.cpu_ns)],
      ];
      for (const [name, metric] of Object.entries(summary.metrics || {})) {
        rows.push([metric.label || name, formatMetric(metric)]);
      }
    } else {
      if (this.summaryKey !== '') {
        section.hidden = true;
        this.summaryKey = '';
      }
      return;
    }
    const key = JSON.stringify([heading, verdict, caveat, rows]);
    if (key === this.summaryKey) return;
    this.summaryKey = key;
    const h = section.querySelector('h2');
    if (h) h.textContent = heading;
    if (this.parts.verdict) this.parts.verdict.textContent = verdict;
    if (this.parts.caveat) {
      this.parts.caveat.hidden = !caveat;
      if (this.parts.caveatText) this.parts.caveatText.textContent = caveat;
      // An imported trace has no scenario to run again.
      if (this.parts.runAgain) this.parts.runAgain.hidden = this.root.dataset.imported === 'true';
    }
    const body = this.parts.metrics?.tBodies[0];
    body?.replaceChildren(...rows.map(([label, value]) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = label;
      const td = document.createElement('td');
      td.textContent = value;
      tr.append(th, td);
      return tr;
    }));
    section.hidden = false;
  },
};
