/**
 * format.js: numbers and statuses as the page writes them.
 */

import { formatDuration } from './axis.js';

/** STATUS_TEXT is the status line for each run status (and the page's own states). */
const STATUS_TEXT = {
  idle: 'ready',
  starting: 'starting…',
  connecting: 'connecting…',
  queued: 'queued',
  running: 'running',
  cancelling: 'cancelling…',
  done: 'done',
  failed: 'failed',
  cancelled: 'cancelled',
  timeout: 'timed out',
  interrupted: 'interrupted (the server stopped)',
  disconnected: 'disconnected',
};

/** statusText is the status line for status (and its queue position). */
export function statusText(status, position = 0) {
  if (status === 'queued' && position > 0) return `queued at position ${position}`;
  return STATUS_TEXT[status] || status;
}

/**
 * withPid names a process with its pid once: "worker 1 (pid 26056)". A name
 * that already carries its pid (the engines often write it) is left as is.
 */
export function withPid(name, pid) {
  if (!pid) return name;
  if (new RegExp(`\\bpid ${pid}\\b`).test(name)) return name;
  return name ? `${name} (pid ${pid})` : `pid ${pid}`;
}

/** formatValue writes a number compactly: whole numbers with separators, others with 4 significant digits. */
export function formatValue(v) {
  if (!Number.isFinite(v)) return '–';
  if (Number.isInteger(v)) return v.toLocaleString('en');
  return v.toLocaleString('en', { maximumSignificantDigits: 4 });
}

/** formatMetric writes a summary metric ({value, unit}) with its unit. */
export function formatMetric(m) {
  const v = Number(m.value);
  switch (m.unit) {
    case 'ns':
      return formatDuration(v);
    case 'us':
    case 'µs':
      return formatDuration(v * 1e3);
    case 'ms':
      return formatDuration(v * 1e6);
    case 's':
      return formatDuration(v * 1e9);
    case 'x':
    case '×':
      return `${v.toFixed(2)}×`;
    case '%':
      return `${formatValue(Math.round(v * 10) / 10)} %`;
    case '':
    case undefined:
    case null:
      return formatValue(v);
    default:
      return `${formatValue(v)} ${m.unit}`;
  }
}

/** formatBytes writes a size in B, KiB, MiB or GiB with three significant digits at most. */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const digits = u === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${units[u]}`;
}
