/**
 * palette.js: the colours and fill patterns of lane states.
 *
 * Colours come from the Okabe–Ito palette, which stays distinguishable for
 * the common forms of colour blindness; every waiting state also carries a
 * pattern (hatching for lock and GIL waits, dots for I/O and sleep...), so
 * that states differ by more than hue, also in greyscale and on projectors.
 *
 * Core lanes (a Go P, the GIL) are drawn by holder instead: each `running`
 * span takes the colour and pattern of the lane that holds the core (its
 * why), so who had the core reads without hovering (see HOLDERS).
 */

/** STATES lists the states of the event protocol; a state's code is its index. */
export const STATES = Object.freeze([
  'running', 'active', 'runnable', 'gil-wait', 'lock-wait', 'io', 'sleep',
  'syscall', 'blocked', 'idle', 'done',
]);

/** RUNNING is the code of "running": on a core. */
export const RUNNING = 0;

/** STATE_CODE maps a state name to its code. */
export const STATE_CODE = Object.freeze(Object.fromEntries(STATES.map((s, i) => [s, i])));

/** DONE is the code of "done": the lane has ended; nothing is drawn after it. */
export const DONE = STATE_CODE.done;

/** UNKNOWN is the code given to a state name this client does not know. */
export const UNKNOWN = STATE_CODE.blocked;

/**
 * STYLE gives each state its fill colour, an optional pattern drawn over the
 * fill, the pattern's ink, and a one-line meaning for tooltips.
 * Patterns: hatch (/), cross (x), backhatch (\), dots, vlines, hlines, grid (+).
 */
export const STYLE = Object.freeze({
  running: { fill: '#009E73', pattern: null, ink: null, meaning: 'executing code on a core' },
  active: { fill: '#A8DCCB', pattern: 'grid', ink: 'rgba(0,0,0,0.30)', meaning: 'in progress: on a core or waiting for one, not recorded' },
  runnable: { fill: '#F0E442', pattern: 'vlines', ink: 'rgba(0,0,0,0.28)', meaning: 'ready, waiting for a core' },
  'gil-wait': { fill: '#CC79A7', pattern: 'hatch', ink: 'rgba(0,0,0,0.55)', meaning: 'waiting for the GIL' },
  'lock-wait': { fill: '#D55E00', pattern: 'cross', ink: 'rgba(0,0,0,0.5)', meaning: 'waiting for a lock' },
  io: { fill: '#56B4E9', pattern: 'dots', ink: 'rgba(0,0,0,0.55)', meaning: 'waiting for I/O' },
  sleep: { fill: '#0072B2', pattern: 'dots', ink: 'rgba(255,255,255,0.75)', meaning: 'sleeping' },
  syscall: { fill: '#E69F00', pattern: 'hlines', ink: 'rgba(0,0,0,0.4)', meaning: 'in a system call' },
  blocked: { fill: '#8C8C8C', pattern: 'backhatch', ink: 'rgba(0,0,0,0.5)', meaning: 'blocked (channel, queue, join)' },
  idle: { fill: '#DADADA', pattern: null, ink: null, meaning: 'nothing to do' },
  done: { fill: 'transparent', pattern: null, ink: null, meaning: 'ended' },
});

/**
 * HOLDERS are the styles of core lanes' running spans, one per holder (by
 * the holder lane's place in the run, then again from the start): the
 * Okabe–Ito hues, each with its own pattern, so that two holders differ in
 * both and a projector or greyscale print still tells them apart. The
 * reddish purple of gil-wait is left out (black takes its place), so that a
 * GIL lane never seems to wait for itself. text is the colour a label reads
 * in on the fill.
 */
export const HOLDERS = Object.freeze([
  { fill: '#0072B2', pattern: null, ink: null, text: '#ffffff' },
  { fill: '#E69F00', pattern: 'hatch', ink: 'rgba(0,0,0,0.35)', text: '#000000' },
  { fill: '#009E73', pattern: 'dots', ink: 'rgba(0,0,0,0.45)', text: '#000000' },
  { fill: '#000000', pattern: 'vlines', ink: 'rgba(255,255,255,0.45)', text: '#ffffff' },
  { fill: '#56B4E9', pattern: 'backhatch', ink: 'rgba(0,0,0,0.35)', text: '#000000' },
  { fill: '#D55E00', pattern: 'hlines', ink: 'rgba(0,0,0,0.35)', text: '#000000' },
  { fill: '#F0E442', pattern: 'cross', ink: 'rgba(0,0,0,0.35)', text: '#000000' },
]);

/** HOLDER_OTHER styles a core held by something that is not a lane of the run (the runtime, GC, another goroutine). */
export const HOLDER_OTHER = Object.freeze({ fill: '#BBBBBB', pattern: 'backhatch', ink: 'rgba(0,0,0,0.4)', text: '#000000' });

/**
 * HOLDER_BASE is the first paint code of a holder: paint codes below it are
 * state codes; HOLDER_BASE + i is HOLDERS[i] and HOLDER_BASE +
 * HOLDERS.length is HOLDER_OTHER.
 */
export const HOLDER_BASE = 16;

/** PAINT_CODES is how many paint codes there are (states and holders). */
export const PAINT_CODES = HOLDER_BASE + HOLDERS.length + 1;

/** paintStyle returns the fill, pattern and ink of a paint code (a state or a holder). */
export function paintStyle(code) {
  if (code < HOLDER_BASE) return STYLE[STATES[code]];
  return HOLDERS[code - HOLDER_BASE] || HOLDER_OTHER;
}

/**
 * otherHolder reports whether a core's holder (the why of its running
 * span) is not a lane of the run: the Go runtime's own goroutines, the
 * tracer, a standard-library goroutine ("net/http goroutine"), or nothing.
 */
export function otherHolder(why) {
  return !why || why === 'runtime' || why === 'GC worker' || why === 'other goroutine' ||
    why === 'scheduler trace (this tool)' || /^[a-z0-9_./-]+ goroutine$/.test(why);
}

/** Colours of marks drawn over the lanes. */
export const MARK_COLOURS = Object.freeze({
  lockWant: '#D55E00',
  lockGot: '#000000',
  flow: '#0072B2',
  mark: '#000000',
  step: '#000000',
  now: '#D55E00',
  counter: '#0072B2',
});

/** stateCode returns the code of a state name; unknown names count as blocked. */
export function stateCode(name) {
  const c = STATE_CODE[name];
  return c === undefined ? UNKNOWN : c;
}

/**
 * patternTile draws one square tile of a pattern in device pixels and
 * returns it as a canvas, or null for a plain fill. scale is the device
 * pixel ratio, so that the pattern keeps its size in CSS pixels.
 * @param {string|null} kind
 * @param {string} ink
 * @param {number} scale
 */
export function patternTile(kind, ink, scale = 1) {
  if (!kind || typeof document === 'undefined') return null;
  const size = tileSize(scale);
  const tile = document.createElement('canvas');
  tile.width = size;
  tile.height = size;
  const g = tile.getContext('2d');
  g.strokeStyle = ink;
  g.fillStyle = ink;
  g.lineWidth = Math.max(1, scale);
  const line = (x0, y0, x1, y1) => { g.beginPath(); g.moveTo(x0, y0); g.lineTo(x1, y1); g.stroke(); };
  switch (kind) {
    case 'hatch': // "/" continuous across tiles
      line(0, size, size, 0); line(-size / 2, size / 2, size / 2, -size / 2); line(size / 2, size * 1.5, size * 1.5, size / 2);
      break;
    case 'backhatch':
      line(0, 0, size, size); line(-size / 2, size / 2, size / 2, size * 1.5); line(size / 2, -size / 2, size * 1.5, size / 2);
      break;
    case 'cross':
      line(0, size, size, 0); line(0, 0, size, size);
      break;
    case 'dots': {
      const r = Math.max(0.8, 0.9 * scale);
      g.beginPath(); g.arc(size / 4, size / 4, r, 0, 2 * Math.PI); g.arc(size * 3 / 4, size * 3 / 4, r, 0, 2 * Math.PI); g.fill();
      break;
    }
    case 'vlines':
      line(size / 2, 0, size / 2, size);
      break;
    case 'hlines':
      line(0, size / 2, size, size / 2);
      break;
    case 'grid': // "+": the in-between of running (plain) and runnable (vlines)
      line(size / 2, 0, size / 2, size); line(0, size / 2, size, size / 2);
      break;
    default:
      return null;
  }
  return tile;
}

/** tileSize is the side of a pattern tile in device pixels at pixel ratio scale. */
export function tileSize(scale = 1) {
  return Math.max(4, Math.round(6 * scale));
}

/**
 * makePattern returns a CanvasPattern of a state's pattern for a context
 * that draws in CSS pixels (scaled by the pixel ratio), or null.
 * @param {CanvasRenderingContext2D} ctx
 * @param {string|null} kind
 * @param {string} ink
 * @param {number} scale
 */
export function makePattern(ctx, kind, ink, scale = 1) {
  const tile = patternTile(kind, ink, scale);
  if (!tile) return null;
  const pattern = ctx.createPattern(tile, 'repeat');
  // The tile is in device pixels: scale it back to stay crisp.
  if (pattern && scale !== 1 && typeof DOMMatrix !== 'undefined') {
    pattern.setTransform(new DOMMatrix().scale(1 / scale));
  }
  return pattern;
}

/**
 * INK are the colours of the frame around the lanes (canvas and SVG alike),
 * chosen for contrast on white and on projectors.
 */
export const INK = Object.freeze({
  background: '#ffffff',
  text: '#111111',
  muted: '#555555',
  grid: '#e4e4e4',
  header: '#e9edf2',
  headerText: '#1b2a3a',
  gutter: '#f6f7f8',
  separator: '#d0d4d9',
  summary: '#f0f0f0',
  future: '#9a9a9a',
});

/** SELECTED marks the selected lane: a tinted row, a bar in the gutter and lines above and below (not colour alone). */
export const SELECTED = Object.freeze({
  band: '#fff1c2',
  edge: '#1b2a3a',
});
