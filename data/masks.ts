/**
 * The one way a mask becomes a 0/1 structure mask, whatever brought it: imports (folder of pairs, CAMUS, DICOM),
 * `labels submit` and `POST /labels`. A mask is accepted by exactly one rule below, or rejected with a one-line
 * reason a doctor or ML engineer can act on. Nothing is guessed silently.
 *
 * Decoding (`decodeMaskImage`): PNG (1–16-bit grey, grey+alpha, RGB, RGBA, palette), TIFF and JPEG, through sharp.
 * Stored values are kept exactly: 16-bit samples stay 16-bit (sharp's default raw output is 8-bit sRGB, which turns
 * a 16-bit 0/1 mask into all zeros), no colour-profile conversion, and 1/2/4-bit grey PNGs get their stored values
 * back (libpng stretches them to 0–255, which would turn labels 0–3 into 0/85/170/255). Unreadable files are
 * rejected: sharp runs with `failOn: 'error'` (damaged data, truncation; benign warnings such as a PNG's "known
 * incorrect sRGB profile" do not reject), and a PNG must reach its IEND chunk (libpng ignores a missing tail). A mask
 * over `MAX_MASK_PIXELS` is rejected by its size, read from the header before any pixel is decoded.
 * Raw label arrays (MetaImage / NIfTI voxels) skip decoding: `{ width, height, channels: 1, data }`.
 *
 * Rules (`normaliseMask`), in this order:
 * 1. Size: with `size`, a mask of any other size is rejected ("mask is W×H; the image is w×h").
 * 2. `label` given: pixels whose grey value (rounded) equals it are foreground. Grey masks only (RGB with R = G = B
 *    counts as grey; alpha is ignored); colour and JPEG masks are rejected. A label not present is rejected naming
 *    the values present (accepted as an empty mask with `allowEmpty`).
 * 3. Alpha: when the mask has an alpha channel with some pixels at least half opaque (alpha ≥ 128 of 255, ≥ 32768
 *    of 65535) and some less, the alpha channel is the mask (anti-aliased brush strokes): foreground = alpha ≥ half.
 *    Colour is then ignored, unless the visible pixels are themselves both black and coloured: that file holds
 *    two different masks and is rejected. An alpha channel on one side of half everywhere (e.g. fully opaque) is
 *    ignored and the rules below read the colour.
 * 4. Colour (RGB that is not grey): the background must be black and every other colour must lie on the line from
 *    black to one colour C (C itself and anti-aliased blends t·C, within 2 % of the range); foreground = at least
 *    half of C (t ≥ ½). Colours that are not blends of one colour (e.g. red and green) are rejected, naming them.
 * 5. Grey:
 *    - two values {0, m}, m > 0 (0/1, 0/255, 0/65535, 16-bit 0/1, …): m is foreground;
 *    - more values, with 0 and a maximum M: an anti-aliased (soft-edged) binary mask when every in-between value
 *      lies on an edge, i.e. no in-between pixel sits inside a flat patch of its own value (all 8 neighbours
 *      equal to it): foreground = value ≥ M/2. In-between values with flat patches are a label map (e.g. CAMUS
 *      {0, 1, 2, 3}): rejected, naming the values and asking for `label`;
 *    - one value everywhere: 0 is empty (rule 7), anything else has no background and is rejected; values without
 *      a 0 background, or negative or non-finite values, are rejected.
 * 6. JPEG (lossy: compression moves values near edges, so the exact-value rules cannot apply): a grey JPEG (or an
 *    RGB JPEG within 10 % of grey) is thresholded at half range (≥ 128 of 255) only when fewer than 1 % of its
 *    pixels fall in the ambiguous middle band [¼, ¾] of the range; otherwise it is rejected. A crisp 0/255 mask
 *    saved as JPEG at ordinary quality keeps every pixel far from the middle (measured: 0 % at quality 75–95 on
 *    16–256 px masks), so thresholding recovers it exactly, while a soft, small-valued (0/1) or heavily compressed
 *    JPEG has pixels whose side is a guess: those are refused rather than guessed. Colour JPEGs are rejected.
 * 7. Empty: a mask without foreground is rejected unless `allowEmpty`.
 */
import { createHash } from 'node:crypto';
import sharp, { type Metadata, type OutputInfo } from 'sharp';

/** Decoded samples, interleaved and row-major; the normaliser's input (raw label arrays included). */
export interface MaskPixels {
  width: number;
  height: number;
  /** 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  data: ArrayLike<number>;
  /** Full scale of a sample (255, 65535): alpha opacity, colour tolerance, the JPEG threshold. Default 255. */
  sampleMax?: number;
  /** Lossy source (JPEG): read by rule 6. */
  lossy?: boolean;
}

export interface DecodedMask extends MaskPixels {
  ok: true;
  format: 'png' | 'tiff' | 'jpeg';
  /** Bits per stored sample (1, 2, 4, 8 or 16). */
  bitDepth: number;
  sampleMax: number;
}

export interface Rejection {
  ok: false;
  reason: string;
}

export interface MaskOptions {
  /** [height, width] the mask must have (its image's size). */
  size?: [number, number];
  /** Grey value of the structure in a label map. */
  label?: number;
  /** Accept a mask without foreground. */
  allowEmpty?: boolean;
}

export interface NormalisedMask {
  ok: true;
  /** 0/1, row-major, height × width. */
  mask: Uint8Array;
  /** [height, width] */
  size: [number, number];
  /** Pixels equal to 1. */
  foreground: number;
  /** Which rule read the mask, for logs and summaries. */
  rule: string;
}

export type MaskResult = NormalisedMask | Rejection;

interface RuleOutcome {
  ok: true;
  mask: Uint8Array;
  rule: string;
  /** Reason given when the mask comes out empty and empty masks are not allowed. */
  emptyReason: string;
}

const reject = (reason: string): Rejection => ({ ok: false, reason });

/** More distinct values than this are not listed or tracked one by one. */
const DISTINCT_CAP = 65_536;
/** Values listed in a reason. */
const LISTED = 8;

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

function listValues(values: readonly number[], total = values.length): string {
  const shown = values.slice(0, LISTED).map(formatValue).join(', ');
  return total > LISTED ? `${shown}, … ${total} values` : shown;
}

/** Counts of each distinct value, or undefined past DISTINCT_CAP. */
function histogram(values: ArrayLike<number>): Map<number, number> | undefined {
  const counts = new Map<number, number>();
  let last = NaN;
  let lastCount = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === last) {
      lastCount++;
      continue;
    }
    if (lastCount > 0) counts.set(last, (counts.get(last) ?? 0) + lastCount);
    if (counts.size > DISTINCT_CAP) return undefined;
    last = v;
    lastCount = 1;
  }
  if (lastCount > 0) counts.set(last, (counts.get(last) ?? 0) + lastCount);
  return counts.size > DISTINCT_CAP ? undefined : counts;
}

/** One channel of interleaved samples (no copy for single-channel data). */
function channelOf(pixels: MaskPixels, channel: number): ArrayLike<number> {
  if (pixels.channels === 1) return pixels.data;
  const n = pixels.width * pixels.height;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = pixels.data[i * pixels.channels + channel];
  return out;
}

/** The grey values of a grey or grey-looking (R = G = B) mask; undefined for colour. Alpha is left out. */
function greyOf(pixels: MaskPixels): ArrayLike<number> | undefined {
  if (pixels.channels <= 2) return channelOf(pixels, 0);
  const { data, channels } = pixels;
  const n = pixels.width * pixels.height;
  for (let i = 0; i < n; i++) {
    const at = i * channels;
    if (data[at] !== data[at + 1] || data[at] !== data[at + 2]) return undefined;
  }
  return channelOf(pixels, 0);
}

function labelRule(pixels: MaskPixels, label: number): RuleOutcome | Rejection {
  if (!Number.isFinite(label)) return reject(`label ${label} is not a number; give the grey value of the structure (e.g. 1)`);
  if (pixels.lossy) return reject('a label map cannot be read from a JPEG (compression changes the values); save it as PNG');
  const grey = greyOf(pixels);
  if (!grey) return reject(`label ${formatValue(label)} picks a grey value, but this mask is in colour; export a grey label map, or the structure alone as a 0/255 mask`);
  const counts = histogram(grey);
  const present = counts ? [...counts.keys()].sort((a, b) => a - b) : undefined;
  const presentText = present ? listValues(present) : 'more than 65536 different values';
  const mask = new Uint8Array(grey.length);
  for (let i = 0; i < grey.length; i++) mask[i] = Math.round(grey[i]) === label ? 1 : 0;
  return {
    ok: true,
    mask,
    rule: `label ${formatValue(label)} of a label map (values ${presentText})`,
    emptyReason: `mask is empty: no pixel has label ${formatValue(label)} (values present: ${presentText}); check the label value`,
  };
}

/** Rule 3; undefined when the alpha channel does not split the image at half opacity. */
function alphaRule(pixels: MaskPixels): RuleOutcome | Rejection | undefined {
  const { data, channels } = pixels;
  if (channels !== 2 && channels !== 4) return undefined;
  const alphaMax = pixels.sampleMax ?? 255;
  const n = pixels.width * pixels.height;
  const mask = new Uint8Array(n);
  let opaque = 0;
  let partial = 0;
  let visibleBlack = 0;
  let visibleColoured = 0;
  for (let i = 0; i < n; i++) {
    const at = i * channels;
    const alpha = data[at + channels - 1];
    if (alpha > 0 && alpha < alphaMax) partial++;
    if (2 * alpha < alphaMax) continue;
    mask[i] = 1;
    opaque++;
    let black = true;
    for (let c = 0; c < channels - 1; c++) if (data[at + c] !== 0) black = false;
    if (black) visibleBlack++;
    else visibleColoured++;
  }
  if (opaque === 0 || opaque === n) return undefined;
  if (visibleBlack > 0 && visibleColoured > 0) {
    return reject(`mask has both transparency and black/coloured areas among its visible pixels (${visibleBlack} black, ${visibleColoured} coloured), so it holds two different masks; export the structure either as opaque-on-transparent or as colour on black`);
  }
  const half = Math.ceil(alphaMax / 2);
  return {
    ok: true,
    mask,
    rule: `alpha channel is the mask: alpha ≥ ${half} of ${alphaMax} is foreground${partial > 0 ? ` (${partial} semi-transparent edge pixels)` : ''}`,
    emptyReason: 'mask is empty: it is fully transparent',
  };
}

function formatColour(key: number[]): string {
  return `(${key.join(',')})`;
}

/** Rule 4, for RGB(A) that is not grey. */
function colourRule(pixels: MaskPixels): RuleOutcome | Rejection {
  const { data, channels } = pixels;
  const sampleMax = pixels.sampleMax ?? 255;
  const n = pixels.width * pixels.height;
  const keyOf = (i: number) => (data[i * channels] * 65_536 + data[i * channels + 1]) * 65_536 + data[i * channels + 2];
  const colours = new Map<number, { rgb: number[]; count: number }>();
  for (let i = 0; i < n; i++) {
    const key = keyOf(i);
    const entry = colours.get(key);
    if (entry) {
      entry.count++;
      continue;
    }
    if (colours.size >= DISTINCT_CAP) return reject(`mask has more than ${DISTINCT_CAP} colours: this is a picture, not a mask; export the structure as one colour on black or as a 0/255 grey mask`);
    const at = i * channels;
    colours.set(key, { rgb: [data[at], data[at + 1], data[at + 2]], count: 1 });
  }
  const black = colours.get(0)?.count ?? 0;
  const others = [...colours.entries()].filter(([key]) => key !== 0).sort((a, b) => b[1].count - a[1].count);
  const listColours = (list: typeof others) => list.slice(0, 5).map(([, c]) => `${formatColour(c.rgb)} ${c.count} px`).join(', ') + (list.length > 5 ? `, … ${list.length} colours` : '');
  if (others.length > 0 && black === 0) {
    return reject(`colour mask has no black background (colours: ${listColours(others)}); export the structure as one colour on black, or as a 0/255 grey mask`);
  }
  const emptyReason = 'mask is empty: every pixel is black (nothing drawn)';
  if (others.length === 0) return { ok: true, mask: new Uint8Array(n), rule: 'colour mask, all black', emptyReason };
  // Anti-aliased edges blend the one colour C toward black: t·C. Anything off that line is a second colour.
  const base = others[0][1].rgb;
  const baseNorm = base[0] * base[0] + base[1] * base[1] + base[2] * base[2];
  const tolerance = 0.02 * sampleMax;
  const strength = new Map<number, number>();
  const offLine: typeof others = [];
  for (const entry of others) {
    const p = entry[1].rgb;
    const t = (p[0] * base[0] + p[1] * base[1] + p[2] * base[2]) / baseNorm;
    const residual = Math.max(...p.map((v, c) => Math.abs(v - t * base[c])));
    if (t > 0 && residual <= tolerance) strength.set(entry[0], t);
    else offLine.push(entry);
  }
  if (offLine.length > 0) {
    return reject(`mask has several colours (${listColours([others[0], ...offLine])}), not one colour on black; export one structure at a time, or a grey label map and choose the structure with the label option`);
  }
  let fullKey = others[0][0];
  for (const [key, t] of strength) if (t > strength.get(fullKey)!) fullKey = key;
  const full = strength.get(fullKey)!;
  const mask = new Uint8Array(n);
  let blended = 0;
  for (let i = 0; i < n; i++) {
    const key = keyOf(i);
    if (key === 0) continue;
    if (key !== fullKey) blended++;
    mask[i] = 2 * strength.get(key)! >= full ? 1 : 0;
  }
  const colour = formatColour(colours.get(fullKey)!.rgb);
  return {
    ok: true,
    mask,
    rule: blended > 0
      ? `colour mask ${colour} on black with ${blended} anti-aliased edge pixels: at least half that colour is foreground`
      : `colour mask ${colour} on black: that colour is foreground`,
    emptyReason,
  };
}

/** True when some in-between value (0 < v < max) fills a 3×3 patch: a label region, not an anti-aliased edge. */
function hasFlatInBetween(values: ArrayLike<number>, width: number, height: number, max: number): boolean {
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = values[y * width + x];
      if (v <= 0 || v >= max) continue;
      let flat = true;
      let neighbours = 0;
      for (let dy = -1; dy <= 1 && flat; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if ((dx === 0 && dy === 0) || yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
          neighbours++;
          if (values[yy * width + xx] !== v) {
            flat = false;
            break;
          }
        }
      }
      if (flat && neighbours > 0) return true;
    }
  }
  return false;
}

/** Rule 5, exact grey values. */
function greyRule(grey: ArrayLike<number>, width: number, height: number): RuleOutcome | Rejection {
  const n = grey.length;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = grey[i];
    if (!Number.isFinite(v)) return reject(`mask has non-finite values (${v}); export it again`);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const counts = histogram(grey);
  const values = counts ? [...counts.keys()].sort((a, b) => a - b) : undefined;
  const distinct = values?.length ?? Infinity;
  const emptyReason = 'mask is empty: every pixel is 0 (nothing drawn)';
  if (max === 0 && min === 0) return { ok: true, mask: new Uint8Array(n), rule: 'grey mask, all 0', emptyReason };
  const labelHint = 'export the structure alone as a 0/255 mask, or choose it with the label option (e.g. label 1 for the LV cavity in CAMUS)';
  if (min < 0) return reject(`mask has negative values (${values ? listValues(values) : `from ${formatValue(min)}`}); ${labelHint}`);
  if (distinct === 1) return reject(`every pixel of the mask is ${formatValue(max)}: there is no 0 background; export the structure on a 0 background`);
  if (min > 0) return reject(`mask has no 0 background (values ${values ? listValues(values) : `${formatValue(min)}–${formatValue(max)}`}), so which value is the structure is unclear; ${labelHint}`);
  const mask = new Uint8Array(n);
  if (distinct === 2) {
    for (let i = 0; i < n; i++) mask[i] = grey[i] === max ? 1 : 0;
    const name = max === 1 || max === 255 || max === 65535 ? `0/${max} mask` : `two-value mask {0, ${formatValue(max)}}`;
    return { ok: true, mask, rule: `${name}: ${formatValue(max)} is foreground`, emptyReason };
  }
  if (hasFlatInBetween(grey, width, height, max)) {
    const text = values ? listValues(values) : `more than ${DISTINCT_CAP} values`;
    return reject(`mask has several labels (${text}): ${labelHint}`);
  }
  let edge = 0;
  for (let i = 0; i < n; i++) {
    const v = grey[i];
    if (v > 0 && v < max) edge++;
    mask[i] = 2 * v >= max ? 1 : 0;
  }
  return {
    ok: true,
    mask,
    rule: `anti-aliased mask 0…${formatValue(max)} (${edge} edge pixels in between): value ≥ ${formatValue(max / 2)} is foreground`,
    emptyReason,
  };
}

/** Rule 6. */
function jpegRule(pixels: MaskPixels): RuleOutcome | Rejection {
  const sampleMax = pixels.sampleMax ?? 255;
  const n = pixels.width * pixels.height;
  let grey: ArrayLike<number>;
  if (pixels.channels === 1) {
    grey = pixels.data;
  } else {
    const { data, channels } = pixels;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const at = i * channels;
      const r = data[at];
      const g = data[at + 1];
      const b = data[at + 2];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 0.1 * sampleMax) {
        return reject('colour JPEG masks cannot be read reliably (compression mixes colours at edges); save the mask as PNG');
      }
      out[i] = (r + g + b) / 3;
    }
    grey = out;
  }
  let max = 0;
  let middle = 0;
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = grey[i];
    if (v > max) max = v;
    if (4 * v >= sampleMax && 4 * v <= 3 * sampleMax) middle++;
    mask[i] = 2 * v > sampleMax ? 1 : 0;
  }
  const emptyReason = 'mask is empty: every pixel is black (nothing drawn)';
  if (middle > 0.01 * n) {
    const share = ((100 * middle) / n).toFixed(1);
    return reject(`JPEG mask is not crisp: ${share} % of its pixels are mid-grey (${Math.ceil(sampleMax / 4)}–${Math.floor((3 * sampleMax) / 4)}), so their side would be a guess; save the mask as PNG`);
  }
  if (max > 0 && !mask.includes(1)) {
    return reject(`JPEG mask has only dark values (brightest ${formatValue(Math.round(max))} of ${sampleMax}); a 0/1 mask cannot survive JPEG: save it as PNG`);
  }
  return {
    ok: true,
    mask,
    rule: `JPEG grey mask thresholded at half range (> ${formatValue(sampleMax / 2)} of ${sampleMax}; ${middle} pixels mid-grey)`,
    emptyReason,
  };
}

/** Applies the rules to decoded pixels or a raw label array (see the module header). */
export function normaliseMask(pixels: MaskPixels, options: MaskOptions = {}): MaskResult {
  const { width, height, channels } = pixels;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    return reject(`mask has no pixels (${width}×${height})`);
  }
  if (pixels.data.length !== width * height * channels) {
    return reject(`mask data has ${pixels.data.length} samples; ${width}×${height} with ${channels} channel(s) needs ${width * height * channels}`);
  }
  if (options.size && (options.size[0] !== height || options.size[1] !== width)) {
    return reject(`mask is ${width}×${height}; the image is ${options.size[1]}×${options.size[0]}`);
  }
  let outcome: RuleOutcome | Rejection;
  if (options.label !== undefined) {
    outcome = labelRule(pixels, options.label);
  } else {
    const alpha = pixels.lossy ? undefined : alphaRule(pixels);
    if (alpha) {
      outcome = alpha;
    } else if (pixels.lossy) {
      outcome = jpegRule(pixels);
    } else {
      const grey = greyOf(pixels);
      outcome = grey ? greyRule(grey, width, height) : colourRule(pixels);
    }
  }
  if (!outcome.ok) return outcome;
  let foreground = 0;
  for (let i = 0; i < outcome.mask.length; i++) foreground += outcome.mask[i];
  if (foreground === 0 && !options.allowEmpty) return reject(outcome.emptyReason);
  return { ok: true, mask: outcome.mask, size: [height, width], foreground, rule: outcome.rule };
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Why a PNG's chunk structure is cut short, or undefined when every chunk up to IEND is complete. */
function pngTruncation(bytes: Uint8Array): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = PNG_SIGNATURE.length;
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]);
    if (at + 12 + length > bytes.length) return `the PNG file is truncated (it ends inside its ${type} chunk); export or upload it again`;
    if (type === 'IEND') return undefined;
    at += 12 + length;
  }
  return 'the PNG file is truncated (it ends before its IEND end marker); export or upload it again';
}

/** Largest mask read, in pixels (width × height): huge frames are legitimate; this only guards against decompression bombs. */
export const MAX_MASK_PIXELS = 1 << 28;

const sharpOptions = { limitInputPixels: MAX_MASK_PIXELS, failOn: 'error' } as const;

/** A pixel count in millions, for people: 400 M, 268.4 M. */
function megapixels(pixels: number): string {
  return `${(pixels / 1e6).toLocaleString('en-US', { maximumFractionDigits: 1 })} M`;
}

function firstLine(message: string): string {
  return message.split('\n').map((line) => line.trim()).find((line) => line !== '') ?? 'unknown error';
}

/** The format a file's first bytes announce (PNG, JPEG, TIFF), whatever follows them. */
function signatureFormat(input: Buffer): string | undefined {
  if (input.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'PNG';
  if (input[0] === 0xff && input[1] === 0xd8) return 'JPEG';
  const tiff = input.subarray(0, 4).toString('latin1');
  if (tiff === 'II*\0' || tiff === 'MM\0*') return 'TIFF';
  return undefined;
}

/**
 * PNG, TIFF or JPEG bytes → exact samples: 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA) channels, 8-bit as
 * Uint8Array, 16-bit as Uint16Array. Palette images come as their colours.
 */
export async function decodeMaskImage(bytes: Uint8Array): Promise<DecodedMask | Rejection> {
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (input.length === 0) return reject('cannot read mask: the file is empty (0 bytes)');
  let meta: Metadata;
  try {
    // The header only (no pixels are decoded), read without the pixel limit so that a mask over it is named as such.
    meta = await sharp(input, { ...sharpOptions, limitInputPixels: false }).metadata();
  } catch {
    const signature = signatureFormat(input);
    return reject(signature ? `cannot read mask: the ${signature} file is truncated or damaged`
      : 'cannot read mask: the file is not a PNG, TIFF or JPEG image');
  }
  const { format, width, height } = meta;
  if (width * height > MAX_MASK_PIXELS) {
    return reject(`mask is ${width}×${height} = ${megapixels(width * height)} pixels; the limit is ${megapixels(MAX_MASK_PIXELS)} pixels (${MAX_MASK_PIXELS.toLocaleString('en-US')})`);
  }
  if (format !== 'png' && format !== 'tiff' && format !== 'jpeg') {
    return reject(`cannot read mask: it is a ${String(format).toUpperCase()} image; save masks as PNG (or TIFF)`);
  }
  const name = format.toUpperCase();
  if (format === 'png') {
    const truncated = pngTruncation(input);
    if (truncated) return reject(`cannot read mask: ${truncated}`);
  }
  if ((meta.pages ?? 1) > 1) return reject(`cannot read mask: the ${name} file holds ${meta.pages} images; save one mask per file`);
  if (meta.depth !== 'uchar' && meta.depth !== 'ushort') {
    return reject(`cannot read mask: its samples are ${meta.depth} (${meta.bitsPerSample ?? '?'}-bit); save masks as 8- or 16-bit PNG`);
  }
  const space = String(meta.space);
  if (!['b-w', 'srgb', 'grey16', 'rgb16'].includes(space)) {
    return reject(`cannot read mask: its colour space is ${space}; save masks as grey or RGB`);
  }
  const sourceChannels = meta.channels;
  if (sourceChannels < 1 || sourceChannels > 4) return reject(`cannot read mask: it has ${sourceChannels} channels; masks have 1 to 4`);
  const sixteenBit = meta.depth === 'ushort';
  const grey = sourceChannels <= 2;
  // keepIccProfile: a mask's stored values are what count, so no colour-profile conversion.
  let pipeline = sharp(input, sharpOptions).keepIccProfile();
  if (sixteenBit) pipeline = pipeline.toColourspace(grey ? 'grey16' : 'rgb16');
  else pipeline = pipeline.toColourspace(sourceChannels === 1 ? 'b-w' : 'srgb');
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await pipeline.raw(sixteenBit ? { depth: 'ushort' } : undefined).toBuffer({ resolveWithObject: true });
  } catch (error) {
    return reject(`cannot read mask: the ${name} file is damaged or truncated (${firstLine((error as Error).message)})`);
  }
  const { data, info } = decoded;
  if (info.width !== width || info.height !== height) {
    return reject(`cannot read mask: the ${name} decoded to ${info.width}×${info.height}, its header says ${width}×${height}`);
  }
  const samples = sixteenBit ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const n = width * height;
  let channels = info.channels as 1 | 2 | 3 | 4;
  let values: Uint8Array | Uint16Array = samples;
  if (!sixteenBit && sourceChannels === 2 && channels === 4) {
    // 8-bit grey+alpha comes out as RGBA with R = G = B; keep grey and alpha.
    values = new Uint8Array(n * 2);
    for (let i = 0; i < n; i++) {
      values[2 * i] = samples[4 * i];
      values[2 * i + 1] = samples[4 * i + 3];
    }
    channels = 2;
  }
  const expected = sourceChannels === 2 ? 2 : sourceChannels;
  if (channels !== expected || values.length !== n * channels) {
    return reject(`cannot read mask: ${name} with ${sourceChannels} channel(s) decoded to ${info.channels}; save it as a grey or RGB PNG`);
  }
  const bitDepth = meta.bitsPerSample ?? (sixteenBit ? 16 : 8);
  if (format === 'png' && !meta.isPalette && sourceChannels === 1 && bitDepth < 8) {
    // libpng stretched 1/2/4-bit grey to 0–255 by bit replication; divide it back to the stored values.
    const scale = 255 / (2 ** bitDepth - 1);
    const stored = new Uint8Array(n);
    for (let i = 0; i < n; i++) stored[i] = Math.round(values[i] / scale);
    values = stored;
  }
  return {
    ok: true,
    format,
    width,
    height,
    channels,
    data: values,
    bitDepth,
    sampleMax: sixteenBit ? 65535 : 255,
    lossy: format === 'jpeg',
  };
}

/** Decodes and normalises a mask file. */
export async function normaliseMaskBytes(bytes: Uint8Array, options: MaskOptions = {}): Promise<MaskResult> {
  const decoded = await decodeMaskImage(bytes);
  return decoded.ok ? normaliseMask(decoded, options) : decoded;
}

/** The stored form of a mask: 8-bit, one grey channel, 0 background and 255 structure. */
export async function encodeCanonicalMask(mask: Uint8Array, size: [number, number]): Promise<Uint8Array> {
  const [height, width] = size;
  if (mask.length !== height * width) throw new Error(`mask has ${mask.length} values; ${width}×${height} needs ${height * width}`);
  const grey = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) grey[i] = mask[i] ? 255 : 0;
  const png = await sharp(grey, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png({ compressionLevel: 9 }).toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** sha256 (hex) of the size and the 0/1 values: equal masks hash equal whatever file they came from. */
export function maskContentHash(mask: Uint8Array, size: [number, number]): string {
  const [height, width] = size;
  if (mask.length !== height * width) throw new Error(`mask has ${mask.length} values; ${width}×${height} needs ${height * width}`);
  const bits = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) bits[i] = mask[i] ? 1 : 0;
  return createHash('sha256').update(`mask ${height}×${width}\n`).update(bits).digest('hex');
}
