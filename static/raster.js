/**
 * raster.js: the pixels of the timeline's lanes.
 *
 * Drawing tens of thousands of rectangles through the canvas API costs a
 * call each; writing them into an ImageData costs a few nanoseconds per
 * pixel, whatever the number of spans. PixelPlot paints the lane area of a
 * frame (background, grid, group bands, spans with their patterns, the
 * stacked "+N more" lanes) into one buffer that is put on the canvas in one
 * call; text, marks, arrows and counters are drawn over it with the canvas
 * API as usual.
 */

import { STATES, DONE, HOLDER_BASE, PAINT_CODES, paintStyle, patternTile, tileSize } from './palette.js';

/** PATTERN_MIN_W is the narrowest rectangle (CSS px) drawn with its pattern; thinner ones show only their colour. */
export const PATTERN_MIN_W = 3;

/** PLAIN is added to a paint code (a state or a core's holder) to draw it without its pattern. */
const PLAIN = 32;

/** NONE marks a pixel of a lane row with no span. */
const NONE = 255;

/** packColour turns "#rrggbb" into a pixel of a little-endian RGBA Uint32Array. */
export function packColour(hex) {
  const v = parseInt(hex.slice(1), 16);
  const r = (v >> 16) & 255;
  const g = (v >> 8) & 255;
  const b = v & 255;
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

/** PixelPlot is the pixel buffer of the lane area, in device pixels. */
export class PixelPlot {
  constructor() {
    this.w = 0;
    this.h = 0;
    this.dpr = 0;
    this.image = null;
    this.px = null;
    this.row = new Uint8Array(0);
    this.tiles = [];
    this.tile = 1;
  }

  /**
   * begin starts a frame of cssW × cssH CSS pixels at ratio dpr, cleared to
   * background; ctx makes the ImageData and draws the pattern tiles.
   */
  begin(ctx, cssW, cssH, dpr, background) {
    const w = Math.max(1, Math.round(cssW * dpr));
    const h = Math.max(1, Math.round(cssH * dpr));
    if (w !== this.w || h !== this.h || !this.image) {
      this.w = w;
      this.h = h;
      this.image = ctx.createImageData(w, h);
      this.px = new Uint32Array(this.image.data.buffer);
      this.row = new Uint8Array(w);
    }
    if (dpr !== this.dpr) {
      this.dpr = dpr;
      this.makeTiles();
    }
    this.px.fill(packColour(background));
  }

  /** makeTiles renders every paint code's colour and pattern (states, then holders) into a small tile of pixels. */
  makeTiles() {
    const t = tileSize(this.dpr);
    this.tile = t;
    this.tiles = new Array(2 * PLAIN).fill(null);
    const canvas = document.createElement('canvas');
    canvas.width = t;
    canvas.height = t;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    for (let code = 0; code < PAINT_CODES; code++) {
      if (code === DONE || (code >= STATES.length && code < HOLDER_BASE)) continue;
      const style = paintStyle(code);
      const plain = new Uint32Array(t * t).fill(packColour(style.fill));
      this.tiles[code + PLAIN] = plain;
      const pat = patternTile(style.pattern, style.ink, this.dpr);
      if (!pat) {
        this.tiles[code] = plain;
        continue;
      }
      g.clearRect(0, 0, t, t);
      g.fillStyle = style.fill;
      g.fillRect(0, 0, t, t);
      g.drawImage(pat, 0, 0);
      this.tiles[code] = new Uint32Array(g.getImageData(0, 0, t, t).data.buffer.slice(0));
    }
  }

  /** band fills rows [y, y+h) (CSS px) with a colour across the whole width. */
  band(y, h, colour) {
    const { y0, y1 } = this.rows(y, h);
    if (y1 > y0) this.px.fill(packColour(colour), y0 * this.w, y1 * this.w);
  }

  /** columns draws one-device-pixel vertical lines at xs (CSS px) over rows [y, y+h). */
  columns(xs, y, h, colour) {
    const { y0, y1 } = this.rows(y, h);
    const c = packColour(colour);
    for (const x of xs) {
      const xd = Math.round(x * this.dpr);
      if (xd < 0 || xd >= this.w) continue;
      for (let yy = y0; yy < y1; yy++) this.px[yy * this.w + xd] = c;
    }
  }

  /** rows converts a CSS range of rows to device rows clipped to the buffer. */
  rows(y, h) {
    const y0 = Math.max(0, Math.round(y * this.dpr));
    const y1 = Math.min(this.h, Math.round((y + h) * this.dpr));
    return { y0, y1 };
  }

  /**
   * lane paints a lane's rectangles (from lod.js, CSS px) into rows
   * [y, y+h): each at least one device pixel wide, patterned when wide
   * enough for the pattern to read.
   */
  lane(y, h, lod, n) {
    const { y0, y1 } = this.rows(y, h);
    if (y1 <= y0 || n === 0) return;
    const d = this.dpr;
    const row = this.row;
    const w = this.w;
    let minX = w;
    let maxX = 0;
    for (let i = 0; i < n; i++) {
      let a = Math.round(lod.x0[i] * d);
      let b = Math.round(lod.x1[i] * d);
      if (b <= a) b = a + 1;
      if (a < 0) a = 0;
      if (b > w) b = w;
      if (b <= a) continue;
      const st = lod.state[i];
      row.fill(lod.x1[i] - lod.x0[i] >= PATTERN_MIN_W ? st : st + PLAIN, a, b);
      if (a < minX) minX = a;
      if (b > maxX) maxX = b;
    }
    if (maxX <= minX) return;
    const px = this.px;
    const tiles = this.tiles;
    const t = this.tile;
    for (let yy = y0; yy < y1; yy++) {
      const off = yy * w;
      const ty = (yy % t) * t;
      for (let x = minX; x < maxX; x++) {
        const code = row[x];
        if (code !== NONE) px[off + x] = tiles[code][ty + (x % t)];
      }
    }
    row.fill(NONE, minX, maxX);
  }

  /**
   * stack paints, for each device column x, counts[s][x] of total lanes as
   * stacked bars (first state at the bottom) in rows [y, y+h).
   * @param {Float64Array[]} counts per state, one value per CSS pixel column
   */
  stack(y, h, counts, total, cssW) {
    const { y0, y1 } = this.rows(y, h);
    if (y1 <= y0 || total <= 0) return;
    const px = this.px;
    const w = this.w;
    const t = this.tile;
    const d = this.dpr;
    const hDev = y1 - y0;
    for (let x = 0; x < w; x++) {
      const cx = Math.min(cssW - 1, Math.floor(x / d));
      let top = y1;
      for (let s = 0; s < counts.length; s++) {
        const c = counts[s][cx];
        if (!(c > 0) || s === DONE) continue;
        const bar = Math.max(1, Math.round((c / total) * hDev));
        const from = Math.max(y0, top - bar);
        const tile = this.tiles[s + PLAIN];
        for (let yy = from; yy < top; yy++) px[yy * w + x] = tile[(yy % t) * t + (x % t)];
        top = from;
      }
    }
  }

  /** put draws the buffer on ctx with its top-left corner at CSS (x, y). */
  put(ctx, x, y) {
    ctx.putImageData(this.image, Math.round(x * this.dpr), Math.round(y * this.dpr));
  }
}

// NONE must stay out of the range of codes.
if (PAINT_CODES > PLAIN || 2 * PLAIN > NONE) throw new Error('too many paint codes for PixelPlot');
