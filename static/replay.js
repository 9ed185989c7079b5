/**
 * replay.js: the clock of a finished run's replay.
 *
 * The replay position is a time in the run (ns since it started). Playing
 * advances it with the wall clock times the speed; seeking, stepping and
 * changing speed re-anchor it, so the position never jumps. At the end of
 * the run playing stops. The page draws the run as it was at the position
 * (RunModel.setCursor); this module only keeps time, so it is tested
 * without a browser.
 */

/** SPEEDS are the replay speeds offered, slowest first (1 is real time). */
export const SPEEDS = Object.freeze([0.1, 0.25, 0.5, 1, 2, 5, 10]);

/** MIN_SPEED and MAX_SPEED bound the speed. */
export const MIN_SPEED = SPEEDS[0];
export const MAX_SPEED = SPEEDS[SPEEDS.length - 1];

/** clampSpeed returns speed within [MIN_SPEED, MAX_SPEED], 1 for anything that is not a number. */
export function clampSpeed(speed) {
  const s = Number(speed);
  if (!Number.isFinite(s) || s <= 0) return 1;
  return Math.min(MAX_SPEED, Math.max(MIN_SPEED, s));
}

/** formatSpeed writes a speed as the speed menu does: "0.25×", "1×", "10×". */
export function formatSpeed(speed) {
  return `${Number(speed.toPrecision(3))}×`;
}

/**
 * ReplayClock keeps the replay position of a run duration ns long.
 */
export class ReplayClock {
  /**
   * @param {number} duration the run's length (ns)
   * @param {() => number} [wallMs] a clock in milliseconds (performance.now)
   */
  constructor(duration, wallMs = () => performance.now()) {
    this.wallMs = wallMs;
    this.duration = Math.max(0, duration || 0);
    /** t is the position (ns) as of the last anchor. */
    this.t = this.duration;
    this.speed = 1;
    this.playing = false;
    this.anchorWall = 0;
  }

  /** clamp keeps a time inside the run. */
  clamp(t) {
    if (!Number.isFinite(t)) return this.duration;
    return Math.min(this.duration, Math.max(0, t));
  }

  /** now returns the position at this instant, and stops playing at the end of the run. */
  now() {
    if (!this.playing) return this.t;
    const t = this.t + (this.wallMs() - this.anchorWall) * 1e6 * this.speed;
    if (t >= this.duration) {
      this.t = this.duration;
      this.playing = false;
      return this.t;
    }
    return t;
  }

  /** anchor fixes the current position, so that later changes start from it. */
  anchor() {
    this.t = this.now();
    this.anchorWall = this.wallMs();
  }

  /** play starts playing; at the end of the run it starts again from the beginning. */
  play() {
    this.anchor();
    if (this.t >= this.duration) this.t = 0;
    this.playing = this.duration > 0;
  }

  /** pause stops at the current position. */
  pause() {
    this.anchor();
    this.playing = false;
  }

  /** toggle plays or pauses; it returns whether it now plays. */
  toggle() {
    if (this.playing) this.pause(); else this.play();
    return this.playing;
  }

  /** seek moves to time t (clamped to the run); playing goes on from there. */
  seek(t) {
    this.anchor();
    this.t = this.clamp(t);
    if (this.t >= this.duration) this.playing = false;
  }

  /** setSpeed changes the speed from now on (clamped to the offered range). */
  setSpeed(speed) {
    this.anchor();
    this.speed = clampSpeed(speed);
  }

  /** setDuration changes the run's length (a replay opened before the history was in). */
  setDuration(duration) {
    this.anchor();
    this.duration = Math.max(0, duration || 0);
    this.t = this.clamp(this.t);
  }

  /** atEnd reports whether the position is the end of the run (the whole run is shown). */
  get atEnd() {
    return this.now() >= this.duration;
  }
}

/**
 * stepTime is where stepping from t goes: the next event's time (dir > 0)
 * or the previous one's (dir < 0), from a RunModel-like source with
 * nextEventTime/prevEventTime; past the last event, the end of the run.
 */
export function stepTime(source, t, dir, duration, laneId = '') {
  if (dir > 0) {
    const next = source.nextEventTime(t, laneId);
    return next === null || next > duration ? duration : next;
  }
  const prev = source.prevEventTime(t, laneId);
  return prev === null ? 0 : prev;
}
