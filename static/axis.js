/**
 * axis.js: the time axis: "nice" tick steps (1, 2, 5 × 10^k ns) and time
 * labels in ns, µs, ms or s.
 */

/** UNITS are the units a time is written in, smallest first. */
const UNITS = [
  { ns: 1, name: 'ns' },
  { ns: 1e3, name: 'µs' },
  { ns: 1e6, name: 'ms' },
  { ns: 1e9, name: 's' },
];

/** niceStep returns the smallest 1, 2 or 5 × 10^k that is at least raw (raw > 0). */
export function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) {
    if (m * pow >= raw * (1 - 1e-9)) return Math.max(1, m * pow);
  }
  return Math.max(1, 10 * pow);
}

/**
 * unitFor picks the unit for labels step apart: the largest unit at most
 * twice the step, so labels read "200 µs" or "0.5 ms", never "0.0002 s".
 */
export function unitFor(step) {
  let unit = UNITS[0];
  for (const u of UNITS) {
    if (u.ns <= step * 2) unit = u;
  }
  return unit;
}

/** formatTick writes time t (ns) in the unit chosen for step, with just enough decimals. */
export function formatTick(t, step) {
  const unit = unitFor(step);
  const decimals = Math.max(0, Math.ceil(-Math.log10(step / unit.ns) - 1e-9));
  const v = t / unit.ns;
  const text = Math.abs(v) < 1e-12 ? '0' : v.toFixed(decimals);
  return `${text} ${unit.name}`;
}

/**
 * ticks returns the ticks of the window [t0, t1] drawn width pixels wide,
 * at least minSpacing pixels apart: {step, ticks: [{t, x, label}]}.
 */
export function ticks(t0, t1, width, minSpacing = 80) {
  if (!(t1 > t0) || !(width > 0)) return { step: 1, ticks: [] };
  const nsPerPx = (t1 - t0) / width;
  const step = niceStep(nsPerPx * minSpacing);
  const out = [];
  const first = Math.ceil(t0 / step) * step;
  for (let t = first, i = 0; t <= t1 + step * 1e-9 && i < 1000; i++, t = first + i * step) {
    out.push({ t, x: (t - t0) / nsPerPx, label: formatTick(t, step) });
  }
  return { step, ticks: out };
}

/** formatDuration writes a duration (ns) with three significant digits and a fitting unit. */
export function formatDuration(ns) {
  if (!Number.isFinite(ns)) return '–';
  const a = Math.abs(ns);
  let unit = UNITS[0];
  for (const u of UNITS) if (a >= u.ns) unit = u;
  const v = ns / unit.ns;
  const digits = Math.abs(v) >= 100 || unit.ns === 1 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${unit.name}`;
}
