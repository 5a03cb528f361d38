/**
 * The paper's augmentations (random rotation, flips, transpose, Gaussian noise p = 0.2, motion / median / plain blur,
 * optical distortion, grid distortion, piecewise affine, CLAHE, random brightness/contrast), applied on the fly to a
 * whole batch with tensor ops. Every random draw comes from a `SeededRng`, so a batch's augmentation is reproducible
 * and a resumed run continues the same sequence.
 *
 * Geometry: flips and transpose are exact index permutations. The four warps (rotation, optical, grid, piecewise
 * affine) are coordinate maps composed into a single sampling field, so each image is resampled once (bilinear,
 * border pixels replicated) and its mask is resampled with the same field and re-thresholded at 0.5 (one-hot masks:
 * argmax), keeping masks binary and aligned with their images.
 *
 * Approximations, all documented where they live:
 * - optical distortion: OpenCV's radial model (k1 = k2 = k, centre shifted), evaluated analytically;
 * - grid distortion: albumentations' separable piecewise-linear stretching, with the nodes rescaled to span the image;
 * - piecewise affine: a jittered control grid whose displacements are interpolated bilinearly (not by triangles);
 * - CLAHE: per-channel tiled histogram equalisation with clip limit and bilinear blending of neighbouring tiles'
 *   look-up tables, 256 bins (albumentations equalises the L channel of LAB; for grey echo frames this is the same);
 * - median blur: exact 3 × 3 median; plain and motion blur: per-sample depthwise convolutions, reflect-padded;
 * - Gaussian noise is independent per channel (albumentations' per_channel default).
 * Order: flips/transpose → warps → CLAHE → brightness/contrast → blur → noise, then clipped to [0, 1].
 */
import * as tf from '@tensorflow/tfjs';
import { SeededRng } from './rng';

export type BlurKind = 'plain' | 'median' | 'motion';

export interface FlipSpec { p: number }
export interface RotationSpec { p: number; /** Angle uniform in ±maxDegrees. */ maxDegrees?: number }
export interface GaussianNoiseSpec { p: number; /** Standard deviation uniform in this range (images in [0, 1]). */ stdRange?: [number, number] }
export interface BlurSpec { p: number; /** One kind per image, chosen uniformly. */ kinds?: BlurKind[]; /** Largest odd kernel size for plain and motion blur. */ maxKernel?: 3 | 5 | 7 }
export interface OpticalDistortionSpec { p: number; /** Radial coefficient k uniform in ±distortLimit. */ distortLimit?: number; /** Centre shift, fraction of the size. */ shiftLimit?: number }
export interface GridDistortionSpec { p: number; numSteps?: number; /** Each cell is stretched by 1 ± distortLimit. */ distortLimit?: number }
export interface PiecewiseAffineSpec { p: number; /** Control-point jitter σ as a fraction of the size, uniform in this range. */ scale?: [number, number]; rows?: number; cols?: number }
export interface ClaheSpec { p: number; /** Clip limit relative to a flat histogram (OpenCV's clipLimit). */ clipLimit?: number; /** Tiles per side. */ tiles?: number }
export interface BrightnessContrastSpec { p: number; /** Added brightness uniform in ±brightnessLimit. */ brightnessLimit?: number; /** Contrast factor 1 ± contrastLimit. */ contrastLimit?: number }

/** Each augmentation is on when present with p > 0; absent or `false` means off. */
export interface AugmentConfig {
  rotation?: RotationSpec | false;
  horizontalFlip?: FlipSpec | false;
  verticalFlip?: FlipSpec | false;
  /** Swaps H and W; needs square images. */
  transpose?: FlipSpec | false;
  gaussianNoise?: GaussianNoiseSpec | false;
  blur?: BlurSpec | false;
  opticalDistortion?: OpticalDistortionSpec | false;
  gridDistortion?: GridDistortionSpec | false;
  piecewiseAffine?: PiecewiseAffineSpec | false;
  clahe?: ClaheSpec | false;
  brightnessContrast?: BrightnessContrastSpec | false;
}

/** The paper's list with albumentations-like settings (Gaussian noise at the paper's p = 0.2). */
export const PAPER_AUGMENTATIONS: AugmentConfig = {
  rotation: { p: 0.5, maxDegrees: 30 },
  horizontalFlip: { p: 0.5 },
  verticalFlip: { p: 0.5 },
  transpose: { p: 0.5 },
  gaussianNoise: { p: 0.2, stdRange: [0.012, 0.028] },
  blur: { p: 0.2, kinds: ['plain', 'median', 'motion'], maxKernel: 7 },
  opticalDistortion: { p: 0.2, distortLimit: 0.1, shiftLimit: 0.05 },
  gridDistortion: { p: 0.2, numSteps: 5, distortLimit: 0.3 },
  piecewiseAffine: { p: 0.2, scale: [0.01, 0.05], rows: 4, cols: 4 },
  clahe: { p: 0.2, clipLimit: 4, tiles: 8 },
  brightnessContrast: { p: 0.5, brightnessLimit: 0.2, contrastLimit: 0.2 },
};

export interface AugmentedBatch {
  images: tf.Tensor4D;
  masks: tf.Tensor4D;
}

type Coords = { y: tf.Tensor3D; x: tf.Tensor3D };

function active<T extends { p: number }>(spec: T | false | undefined): T | undefined {
  if (!spec) return undefined;
  if (!(spec.p >= 0 && spec.p <= 1)) throw new Error(`Augmentation probability must be in [0, 1], got ${spec.p}.`);
  return spec.p > 0 ? spec : undefined;
}

/**
 * table[index] for int32 indices of any shape (rows of a 2-D table, values of a 1-D one). gatherND: the native
 * backend's GatherV2 is an order of magnitude slower on large index tensors.
 */
function take(table: tf.Tensor, index: tf.Tensor): tf.Tensor {
  return tf.gatherND(table, tf.expandDims(index, -1));
}

/** Per-sample scalars as a [B, 1, 1] tensor that broadcasts over [B, H, W]. */
/** An int32 scalar: a plain number would promote int32 index arithmetic to float32. */
function int(value: number): tf.Scalar {
  return tf.scalar(value, 'int32');
}

function perSample(values: number[]): tf.Tensor3D {
  return tf.tensor3d(values, [values.length, 1, 1], 'float32');
}

function drawFlags(rng: SeededRng, batch: number, p: number): boolean[] {
  return Array.from({ length: batch }, () => rng.bernoulli(p));
}

/** Picks `changed` where the sample's flag is set, else `original`. */
function selectSamples<T extends tf.Tensor>(flags: boolean[], changed: T, original: T): T {
  const shape = [flags.length, ...new Array<number>(changed.rank - 1).fill(1)];
  return tf.where(tf.tensor(flags.map(Number), shape, 'bool'), changed, original) as T;
}

/** Bilinear sampling of src [B, h, w, C] at per-pixel source coordinates (pixel units), replicating the border. */
export function sampleBilinear(src: tf.Tensor4D, coords: Coords): tf.Tensor4D {
  const [b, h, w, c] = src.shape;
  const [, oh, ow] = coords.y.shape;
  return tf.tidy(() => {
    const y = tf.clipByValue(coords.y, 0, h - 1);
    const x = tf.clipByValue(coords.x, 0, w - 1);
    const y0 = tf.floor(y);
    const x0 = tf.floor(x);
    const wy = tf.expandDims(tf.sub(y, y0), 3);
    const wx = tf.expandDims(tf.sub(x, x0), 3);
    const y0i = tf.cast(y0, 'int32');
    const x0i = tf.cast(x0, 'int32');
    const y1i = tf.minimum(tf.add(y0i, int(1)), int(h - 1));
    const x1i = tf.minimum(tf.add(x0i, int(1)), int(w - 1));
    const base = tf.reshape(tf.mul(tf.range(0, b, 1, 'int32'), int(h * w)), [b, 1, 1]);
    const flat = tf.reshape(src, [b * h * w, c]);
    const at = (yi: tf.Tensor, xi: tf.Tensor) =>
      tf.reshape(take(flat, tf.add(base, tf.add(tf.mul(yi, int(w)), xi))), [b, oh, ow, c]);
    const top = tf.add(tf.mul(at(y0i, x0i), tf.sub(1, wx)), tf.mul(at(y0i, x1i), wx));
    const bottom = tf.add(tf.mul(at(y1i, x0i), tf.sub(1, wx)), tf.mul(at(y1i, x1i), wx));
    return tf.add(tf.mul(top, tf.sub(1, wy)), tf.mul(bottom, wy)) as tf.Tensor4D;
  });
}

function identityCoords(batch: number, h: number, w: number): Coords {
  return {
    y: tf.tile(tf.reshape(tf.range(0, h, 1, 'float32'), [1, h, 1]), [batch, 1, w]) as tf.Tensor3D,
    x: tf.tile(tf.reshape(tf.range(0, w, 1, 'float32'), [1, 1, w]), [batch, h, 1]) as tf.Tensor3D,
  };
}

/** A coordinate map: output pixel → where to read in its input. */
type CoordMap = (c: Coords) => Coords;

function rotationMap(rng: SeededRng, spec: RotationSpec, b: number, h: number, w: number): CoordMap | undefined {
  const maxRad = ((spec.maxDegrees ?? 30) * Math.PI) / 180;
  const flags = drawFlags(rng, b, spec.p);
  if (!flags.some(Boolean)) return undefined;
  const angles = flags.map((on) => (on ? rng.uniform(-maxRad, maxRad) : 0));
  const cos = perSample(angles.map(Math.cos));
  const sin = perSample(angles.map(Math.sin));
  const cy = (h - 1) / 2;
  const cx = (w - 1) / 2;
  return ({ y, x }) => {
    const dy = tf.sub(y, cy);
    const dx = tf.sub(x, cx);
    return {
      y: tf.add(cy, tf.add(tf.mul(sin, dx), tf.mul(cos, dy))) as tf.Tensor3D,
      x: tf.add(cx, tf.sub(tf.mul(cos, dx), tf.mul(sin, dy))) as tf.Tensor3D,
    };
  };
}

/** OpenCV's radial model with k1 = k2 = k and focal length = image size (as albumentations' OpticalDistortion). */
function opticalMap(rng: SeededRng, spec: OpticalDistortionSpec, b: number, h: number, w: number): CoordMap | undefined {
  const limit = spec.distortLimit ?? 0.1;
  const shift = spec.shiftLimit ?? 0.05;
  const flags = drawFlags(rng, b, spec.p);
  if (!flags.some(Boolean)) return undefined;
  const k: number[] = [];
  const cys: number[] = [];
  const cxs: number[] = [];
  for (const on of flags) {
    k.push(on ? rng.uniform(-limit, limit) : 0);
    cys.push((h - 1) / 2 + (on ? rng.uniform(-shift, shift) * h : 0));
    cxs.push((w - 1) / 2 + (on ? rng.uniform(-shift, shift) * w : 0));
  }
  const kT = perSample(k);
  const cy = perSample(cys);
  const cx = perSample(cxs);
  return ({ y, x }) => {
    const dy = tf.sub(y, cy);
    const dx = tf.sub(x, cx);
    const r2 = tf.add(tf.square(tf.div(dy, h)), tf.square(tf.div(dx, w)));
    const factor = tf.add(1, tf.mul(kT, tf.add(r2, tf.square(r2))));
    return { y: tf.add(cy, tf.mul(dy, factor)) as tf.Tensor3D, x: tf.add(cx, tf.mul(dx, factor)) as tf.Tensor3D };
  };
}

/** Evaluates per-sample piecewise-linear functions, given by node values at evenly spaced nodes, at coordinates. */
function piecewiseLinear(coord: tf.Tensor3D, nodes: number[][], size: number): tf.Tensor3D {
  const b = nodes.length;
  const n = nodes[0].length - 1;
  const cell = (size - 1) / n;
  const table = tf.tensor1d(nodes.flat(), 'float32');
  const u = tf.div(tf.clipByValue(coord, 0, size - 1), cell);
  const index = tf.minimum(tf.cast(tf.floor(u), 'int32'), int(n - 1));
  const t = tf.sub(u, tf.cast(index, 'float32'));
  const flatIndex = tf.add(tf.reshape(tf.mul(tf.range(0, b, 1, 'int32'), int(n + 1)), [b, 1, 1]), index);
  const v0 = take(table, flatIndex);
  const v1 = take(table, tf.add(flatIndex, int(1)));
  return tf.add(v0, tf.mul(t, tf.sub(v1, v0))) as tf.Tensor3D;
}

/**
 * albumentations' GridDistortion: the image is cut into numSteps cells per axis and each cell is stretched by
 * 1 ± distortLimit, separably in x and y. The stretched nodes are rescaled to span the image, so nothing leaves the frame.
 */
function gridMap(rng: SeededRng, spec: GridDistortionSpec, b: number, h: number, w: number): CoordMap | undefined {
  const steps = spec.numSteps ?? 5;
  const limit = spec.distortLimit ?? 0.3;
  const flags = drawFlags(rng, b, spec.p);
  if (!flags.some(Boolean)) return undefined;
  const nodesFor = (on: boolean, size: number) => {
    const stretch = Array.from({ length: steps }, () => (on ? 1 + rng.uniform(-limit, limit) : 1));
    const total = stretch.reduce((s, v) => s + v, 0);
    const nodes = [0];
    for (const s of stretch) nodes.push(nodes[nodes.length - 1] + (s / total) * (size - 1));
    return nodes;
  };
  const ys: number[][] = [];
  const xs: number[][] = [];
  for (const on of flags) {
    ys.push(nodesFor(on, h));
    xs.push(nodesFor(on, w));
  }
  return ({ y, x }) => ({ y: piecewiseLinear(y, ys, h), x: piecewiseLinear(x, xs, w) });
}

/** imgaug's PiecewiseAffine approximated: a rows × cols control grid jittered by N(0, σ·size), displacements interpolated bilinearly. */
function piecewiseAffineMap(rng: SeededRng, spec: PiecewiseAffineSpec, b: number, h: number, w: number): CoordMap | undefined {
  const [lo, hi] = spec.scale ?? [0.01, 0.05];
  const rows = spec.rows ?? 4;
  const cols = spec.cols ?? 4;
  const flags = drawFlags(rng, b, spec.p);
  if (!flags.some(Boolean)) return undefined;
  const displacement: number[] = [];
  for (const on of flags) {
    const sigma = on ? rng.uniform(lo, hi) : 0;
    for (let i = 0; i < rows * cols; i++) {
      displacement.push(on ? rng.normal() * sigma * h : 0, on ? rng.normal() * sigma * w : 0);
    }
  }
  const field = tf.tensor4d(displacement, [b, rows, cols, 2]);
  return ({ y, x }) => {
    const d = sampleBilinear(field, {
      y: tf.mul(y, (rows - 1) / (h - 1)) as tf.Tensor3D,
      x: tf.mul(x, (cols - 1) / (w - 1)) as tf.Tensor3D,
    });
    const [dy, dx] = tf.unstack(d, 3) as tf.Tensor3D[];
    return { y: tf.add(y, dy) as tf.Tensor3D, x: tf.add(x, dx) as tf.Tensor3D };
  };
}

function warp(images: tf.Tensor4D, masks: tf.Tensor4D, coords: Coords): AugmentedBatch {
  // One sampling pass for both: the index arithmetic and gathers dominate, not the channel count.
  const c = images.shape[3];
  const warped = sampleBilinear(tf.concat([images, masks], 3), coords);
  const warpedMasks = tf.slice(warped, [0, 0, 0, c], [-1, -1, -1, -1]);
  return {
    images: tf.slice(warped, [0, 0, 0, 0], [-1, -1, -1, c]),
    masks: (masks.shape[3] === 1
      ? tf.cast(tf.greaterEqual(warpedMasks, 0.5), 'float32')
      : tf.oneHot(tf.argMax(warpedMasks, 3), masks.shape[3]).toFloat()) as tf.Tensor4D,
  };
}

/** Exact permutations: flips and transpose, each per sample. */
function flipAndTranspose(batch: AugmentedBatch, config: AugmentConfig, rng: SeededRng): AugmentedBatch {
  let { images, masks } = batch;
  const b = images.shape[0];
  const ops: [FlipSpec | undefined, (t: tf.Tensor4D) => tf.Tensor4D][] = [
    [active(config.horizontalFlip), (t) => tf.reverse(t, 2)],
    [active(config.verticalFlip), (t) => tf.reverse(t, 1)],
    [active(config.transpose), (t) => tf.transpose(t, [0, 2, 1, 3])],
  ];
  for (const [spec, op] of ops) {
    if (!spec) continue;
    const flags = drawFlags(rng, b, spec.p);
    if (!flags.some(Boolean)) continue;
    images = selectSamples(flags, op(images), images);
    masks = selectSamples(flags, op(masks), masks);
  }
  return { images, masks };
}

function geometricWarps(batch: AugmentedBatch, config: AugmentConfig, rng: SeededRng): AugmentedBatch {
  const [b, h, w] = batch.images.shape;
  const rotation = active(config.rotation);
  const optical = active(config.opticalDistortion);
  const grid = active(config.gridDistortion);
  const piecewise = active(config.piecewiseAffine);
  // Image order: rotation, then optical, grid, piecewise; the maps compose in reverse (last applied reads first).
  const maps = [
    rotation && rotationMap(rng, rotation, b, h, w),
    optical && opticalMap(rng, optical, b, h, w),
    grid && gridMap(rng, grid, b, h, w),
    piecewise && piecewiseAffineMap(rng, piecewise, b, h, w),
  ].filter((m): m is CoordMap => m !== undefined);
  if (maps.length === 0) return batch;
  let coords = identityCoords(b, h, w);
  for (const map of maps.reverse()) coords = map(coords);
  return warp(batch.images, batch.masks, coords);
}

/** Tiled histogram equalisation with clip limit, blending the four nearest tiles' look-up tables bilinearly. */
export function clahe(images: tf.Tensor4D, clipLimit: number, tiles: number, bins = 256): tf.Tensor4D {
  const [b, h, w, c] = images.shape;
  return tf.tidy(() => {
    const tileOfRow = Array.from({ length: h }, (_, y) => Math.min(tiles - 1, Math.floor((y * tiles) / h)));
    const tileOfCol = Array.from({ length: w }, (_, x) => Math.min(tiles - 1, Math.floor((x * tiles) / w)));
    // LUT index of (sample, tile row, tile col, channel, bin), laid out [B, T, T, C, bins].
    const lutIndex = (ty: tf.Tensor, tx: tf.Tensor, bin: tf.Tensor) => {
      const sampleTerm = tf.reshape(tf.mul(tf.range(0, b, 1, 'int32'), int(tiles * tiles * c * bins)), [b, 1, 1, 1]);
      const tileTerm = tf.add(tf.mul(tf.reshape(ty, [1, h, 1, 1]), int(tiles * c * bins)), tf.mul(tf.reshape(tx, [1, 1, w, 1]), int(c * bins)));
      const channelTerm = tf.reshape(tf.mul(tf.range(0, c, 1, 'int32'), int(bins)), [1, 1, 1, c]);
      return tf.add(tf.add(sampleTerm, tileTerm), tf.add(channelTerm, bin));
    };
    const bin = tf.minimum(tf.cast(tf.floor(tf.mul(tf.clipByValue(images, 0, 1), bins)), 'int32'), int(bins - 1));
    const ids = lutIndex(tf.tensor1d(tileOfRow, 'int32'), tf.tensor1d(tileOfCol, 'int32'), bin);
    const size = b * tiles * tiles * c * bins;
    const hist = tf.reshape(tf.bincount(tf.reshape(ids, [-1]) as tf.Tensor1D, tf.tensor1d([], 'float32'), size), [b, tiles, tiles, c, bins]);
    const count = tf.sum(hist, 4, true);
    const limit = tf.mul(count, Math.max(clipLimit, 1) / bins);
    const clipped = tf.minimum(hist, limit);
    const excess = tf.sum(tf.sub(hist, clipped), 4, true);
    const redistributed = tf.add(clipped, tf.div(excess, bins));
    const lut = tf.reshape(tf.div(tf.cumsum(redistributed, 4), tf.maximum(count, 1)), [-1]);
    // Position of each row / column between tile centres.
    const between = (n: number) => {
      const lo: number[] = [];
      const hi: number[] = [];
      const weight: number[] = [];
      for (let i = 0; i < n; i++) {
        const f = Math.min(tiles - 1, Math.max(0, ((i + 0.5) * tiles) / n - 0.5));
        const f0 = Math.floor(f);
        lo.push(f0);
        hi.push(Math.min(f0 + 1, tiles - 1));
        weight.push(f - f0);
      }
      return { lo: tf.tensor1d(lo, 'int32'), hi: tf.tensor1d(hi, 'int32'), weight: tf.tensor1d(weight, 'float32') };
    };
    const rows = between(h);
    const cols = between(w);
    const look = (ty: tf.Tensor, tx: tf.Tensor) => take(lut, lutIndex(ty, tx, bin));
    const wy = tf.reshape(rows.weight, [1, h, 1, 1]);
    const wx = tf.reshape(cols.weight, [1, 1, w, 1]);
    const top = tf.add(tf.mul(look(rows.lo, cols.lo), tf.sub(1, wx)), tf.mul(look(rows.lo, cols.hi), wx));
    const bottom = tf.add(tf.mul(look(rows.hi, cols.lo), tf.sub(1, wx)), tf.mul(look(rows.hi, cols.hi), wx));
    return tf.add(tf.mul(top, tf.sub(1, wy)), tf.mul(bottom, wy)) as tf.Tensor4D;
  });
}

/** Per-sample depthwise convolution: the batch is folded into channels so each sample gets its own kernel. */
function convolvePerSample(images: tf.Tensor4D, kernels: number[][], k: number): tf.Tensor4D {
  const [b, h, w, c] = images.shape;
  const pad = (k - 1) / 2;
  const folded = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, h, w, b * c]);
  const padded = tf.mirrorPad(folded, [[0, 0], [pad, pad], [pad, pad], [0, 0]], 'reflect');
  const filter = tf.reshape(
    tf.tile(tf.reshape(tf.transpose(tf.tensor3d(kernels.flat(), [b, k, k]), [1, 2, 0]), [k, k, b, 1, 1]), [1, 1, 1, c, 1]),
    [k, k, b * c, 1],
  ) as tf.Tensor4D;
  const out = tf.depthwiseConv2d(padded as tf.Tensor4D, filter, 1, 'valid');
  return tf.transpose(tf.reshape(out, [h, w, b, c]), [2, 0, 1, 3]) as tf.Tensor4D;
}

function deltaKernel(k: number): number[] {
  const kernel = new Array<number>(k * k).fill(0);
  kernel[((k - 1) / 2) * k + (k - 1) / 2] = 1;
  return kernel;
}

function boxKernel(k: number, size: number): number[] {
  const kernel = new Array<number>(k * k).fill(0);
  const off = (k - size) / 2;
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) kernel[(off + i) * k + off + j] = 1 / (size * size);
  return kernel;
}

/** A normalised line of `length` pixels through the kernel centre at `angle` (albumentations' MotionBlur). */
function motionKernel(k: number, length: number, angle: number): number[] {
  const kernel = new Array<number>(k * k).fill(0);
  const centre = (k - 1) / 2;
  const half = (length - 1) / 2;
  for (let t = -half; t <= half + 1e-9; t += 0.25) {
    const row = Math.round(centre + t * Math.sin(angle));
    const col = Math.round(centre + t * Math.cos(angle));
    kernel[row * k + col] = 1;
  }
  const total = kernel.reduce((s, v) => s + v, 0);
  return kernel.map((v) => v / total);
}

/**
 * Exact 3 × 3 median (reflect-padded), by Paeth's 19-exchange sorting network on the nine shifted copies: elementwise
 * min/max only (TopK over a trailing axis of 9 is far slower on the native backend).
 */
export function medianBlur3(images: tf.Tensor4D): tf.Tensor4D {
  const [, h, w] = images.shape;
  return tf.tidy(() => {
    const padded = tf.mirrorPad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], 'reflect');
    const p: tf.Tensor[] = [];
    for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) p.push(tf.slice(padded, [0, dy, dx, 0], [-1, h, w, -1]));
    const exchanges = [
      [1, 2], [4, 5], [7, 8], [0, 1], [3, 4], [6, 7], [1, 2], [4, 5], [7, 8], [0, 3],
      [5, 8], [4, 7], [3, 6], [1, 4], [2, 5], [4, 7], [4, 2], [6, 4], [4, 2],
    ];
    for (const [i, j] of exchanges) [p[i], p[j]] = [tf.minimum(p[i], p[j]), tf.maximum(p[i], p[j])];
    return p[4] as tf.Tensor4D;
  });
}

function blur(images: tf.Tensor4D, spec: BlurSpec, rng: SeededRng): tf.Tensor4D {
  const kinds = spec.kinds ?? ['plain', 'median', 'motion'];
  const k = spec.maxKernel ?? 7;
  if (kinds.length === 0) return images;
  if (![3, 5, 7].includes(k)) throw new Error(`blur.maxKernel must be 3, 5 or 7, got ${k}.`);
  const b = images.shape[0];
  const chosen = drawFlags(rng, b, spec.p).map((on) => (on ? kinds[rng.int(kinds.length)] : undefined));
  const kernels = chosen.map((kind) => {
    const size = 3 + 2 * rng.int((k - 1) / 2);
    if (kind === 'plain') return boxKernel(k, size);
    if (kind === 'motion') return motionKernel(k, size, rng.uniform(0, Math.PI));
    return deltaKernel(k);
  });
  let out = images;
  if (chosen.some((kind) => kind === 'plain' || kind === 'motion')) out = convolvePerSample(images, kernels, k);
  const median = chosen.map((kind) => kind === 'median');
  if (median.some(Boolean)) out = selectSamples(median, medianBlur3(images), out);
  return out;
}

function intensity(images: tf.Tensor4D, config: AugmentConfig, rng: SeededRng): tf.Tensor4D {
  const b = images.shape[0];
  const perImage = (values: number[]) => tf.tensor4d(values, [b, 1, 1, 1]);
  let out = images;
  const claheSpec = active(config.clahe);
  if (claheSpec) {
    const flags = drawFlags(rng, b, claheSpec.p);
    if (flags.some(Boolean)) out = selectSamples(flags, clahe(out, claheSpec.clipLimit ?? 4, claheSpec.tiles ?? 8), out);
  }
  const bc = active(config.brightnessContrast);
  if (bc) {
    const flags = drawFlags(rng, b, bc.p);
    if (flags.some(Boolean)) {
      const bl = bc.brightnessLimit ?? 0.2;
      const cl = bc.contrastLimit ?? 0.2;
      const alpha = flags.map((on) => (on ? 1 + rng.uniform(-cl, cl) : 1));
      const beta = flags.map((on) => (on ? rng.uniform(-bl, bl) : 0));
      out = tf.add(tf.mul(out, perImage(alpha)), perImage(beta));
    }
  }
  const blurSpec = active(config.blur);
  if (blurSpec) out = blur(out, blurSpec, rng);
  const noise = active(config.gaussianNoise);
  if (noise) {
    const flags = drawFlags(rng, b, noise.p);
    if (flags.some(Boolean)) {
      const [lo, hi] = noise.stdRange ?? [0.012, 0.028];
      const std = flags.map((on) => (on ? rng.uniform(lo, hi) : 0));
      out = tf.add(out, tf.mul(tf.randomNormal(out.shape, 0, 1, 'float32', rng.tensorSeed()), perImage(std)));
    }
  }
  return tf.clipByValue(out, 0, 1);
}

/**
 * Augments a batch: images [B, H, W, C] in [0, 1], masks [B, H, W, 1] in {0, 1} or one-hot [B, H, W, classes].
 * Returns new tensors (the inputs are not disposed); draws every random number from `rng`.
 */
export function augmentBatch(images: tf.Tensor4D, masks: tf.Tensor4D, config: AugmentConfig, rng: SeededRng): AugmentedBatch {
  if (images.rank !== 4 || masks.rank !== 4 || !tf.util.arraysEqual(images.shape.slice(0, 3), masks.shape.slice(0, 3))) {
    throw new Error(`augmentBatch needs images [B,H,W,C] and masks [B,H,W,K] with the same B, H, W; got ${JSON.stringify(images.shape)} and ${JSON.stringify(masks.shape)}.`);
  }
  const [, h, w] = images.shape;
  if (active(config.transpose) && h !== w) {
    throw new Error(`The transpose augmentation needs square images, got ${h}×${w}; resize first or switch transpose off.`);
  }
  if (h < 2 || w < 2) throw new Error(`Images must be at least 2×2 to augment, got ${h}×${w}.`);
  return tf.tidy(() => {
    const flipped = flipAndTranspose({ images, masks }, config, rng);
    const warped = geometricWarps(flipped, config, rng);
    const out = { images: intensity(warped.images, config, rng), masks: warped.masks };
    // Untouched inputs come back as themselves; hand out copies so callers may dispose the result freely.
    return {
      images: (out.images === images ? tf.clone(images) : out.images) as tf.Tensor4D,
      masks: (out.masks === masks ? tf.clone(masks) : out.masks) as tf.Tensor4D,
    };
  });
}
