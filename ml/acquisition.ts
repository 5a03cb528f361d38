/**
 * Acquisition functions for Monte Carlo dropout, as the paper defines them (Table II's CFE, MFE, MI, STD).
 * With T samples and p_t = p(y = c | x, W_t) per pixel:
 *   CFE = −(1/T) Σ_t Σ_c p_t log p_t          (expected entropy)
 *   MFE = −Σ_c p̄ log p̄,  p̄ = (1/T) Σ_t p_t    (predictive entropy)
 *   MI  = |MFE − CFE|                          (BALD)
 *   STD = mean over c of the population std over t of p_t
 * Natural log, 0 · log 0 = 0. A sigmoid output (one channel) counts as two classes (p, 1 − p).
 * Per-pixel values are reduced per image by mean (default), sum or max.
 *
 * Two implementations with one meaning: `acquisitionScore` is the direct formula on a plain array (the
 * reference, used by tests and small callers); `MCMomentAccumulator` streams the T passes on the backend,
 * holding only per-pixel running moments, never the T samples.
 */
import * as tf from '@tensorflow/tfjs';
import {
  ACQUISITION_FUNCTIONS, type AcquisitionFunction, type PixelReduction, UNCERTAINTY_FUNCTIONS, type UncertaintyFunction,
} from '../contracts/names';

export { ACQUISITION_FUNCTIONS, type AcquisitionFunction, type PixelReduction, UNCERTAINTY_FUNCTIONS, type UncertaintyFunction };

/** Per-pixel statistics of the T samples every uncertainty function is a formula of. */
interface PixelMoments {
  /** −(1/T) Σ_t Σ_c p_t log p_t */
  expectedEntropy: number;
  /** −Σ_c p̄ log p̄ */
  predictiveEntropy: number;
  /** Σ_c of the population standard deviation over t of p_t */
  stdSum: number;
  classes: number;
}

/** The formulas, on one pixel's statistics (the reference implementation). */
const PIXEL_FORMULAS: Record<UncertaintyFunction, (m: PixelMoments) => number> = {
  cfe: (m) => m.expectedEntropy,
  mfe: (m) => m.predictiveEntropy,
  mi: (m) => Math.abs(m.predictiveEntropy - m.expectedEntropy),
  std: (m) => m.stdSum / m.classes,
};

/** The same formulas on the backend, from the streamed moments (tensors of the batch's pixels). */
interface TensorMoments {
  expectedEntropy: () => tf.Tensor;
  predictiveEntropy: () => tf.Tensor;
  /** Mean over classes of the population standard deviation over t. */
  meanStd: () => tf.Tensor;
}

const TENSOR_FORMULAS: Record<UncertaintyFunction, (m: TensorMoments) => tf.Tensor> = {
  cfe: (m) => m.expectedEntropy(),
  mfe: (m) => m.predictiveEntropy(),
  mi: (m) => m.predictiveEntropy().sub(m.expectedEntropy()).abs(),
  std: (m) => m.meanStd(),
};

function formulaOf<F>(formulas: Record<UncertaintyFunction, F>, fn: UncertaintyFunction): F {
  const formula = formulas[fn] as F | undefined;
  if (!formula) throw new Error(`Unknown acquisition function '${String(fn)}'; use one of ${UNCERTAINTY_FUNCTIONS.join(', ')}.`);
  return formula;
}

export interface ProbsShape {
  samples: number;
  pixels: number;
  /** 1 means a sigmoid output: each value p stands for the two classes (p, 1 − p). */
  classes: number;
}

function xlogx(p: number): number {
  return p > 0 ? p * Math.log(p) : 0;
}

/** Per-pixel values of one function from `[samples][pixels][classes]` probabilities (the direct formula). */
export function pixelUncertainty(probs: Float32Array, shape: ProbsShape, fn: UncertaintyFunction): Float64Array {
  const { samples: T, pixels: P, classes: C } = shape;
  if (!(Number.isInteger(T) && T >= 1 && Number.isInteger(P) && P >= 1 && Number.isInteger(C) && C >= 1)) {
    throw new Error(`Shape must have positive integer samples, pixels and classes; got ${JSON.stringify(shape)}.`);
  }
  if (probs.length !== T * P * C) {
    throw new Error(`probs has ${probs.length} values but shape ${T}×${P}×${C} needs ${T * P * C}.`);
  }
  const sigmoid = C === 1;
  const classes = sigmoid ? 2 : C;
  const prob = (t: number, p: number, c: number): number => {
    if (!sigmoid) return probs[(t * P + p) * C + c];
    const v = probs[t * P + p];
    return c === 0 ? v : 1 - v;
  };
  const formula = formulaOf(PIXEL_FORMULAS, fn);
  const out = new Float64Array(P);
  for (let p = 0; p < P; p++) {
    let expectedEntropy = 0;
    let predictiveEntropy = 0;
    let stdSum = 0;
    for (let c = 0; c < classes; c++) {
      let mean = 0;
      for (let t = 0; t < T; t++) {
        const v = prob(t, p, c);
        mean += v;
        expectedEntropy -= xlogx(v);
      }
      mean /= T;
      predictiveEntropy -= xlogx(mean);
      let squares = 0;
      for (let t = 0; t < T; t++) squares += (prob(t, p, c) - mean) ** 2;
      stdSum += Math.sqrt(squares / T);
    }
    out[p] = formula({ expectedEntropy: expectedEntropy / T, predictiveEntropy, stdSum, classes });
  }
  return out;
}

const REDUCTIONS: Record<PixelReduction, { values: (values: ArrayLike<number>) => number; tensor: (flat: tf.Tensor2D) => tf.Tensor1D }> = {
  mean: { values: (v) => sumOf(v) / v.length, tensor: (flat) => flat.mean(1) },
  sum: { values: (v) => sumOf(v), tensor: (flat) => flat.sum(1) },
  max: { values: (v) => maxOf(v), tensor: (flat) => flat.max(1) },
};

function sumOf(values: ArrayLike<number>): number {
  let acc = 0;
  for (let i = 0; i < values.length; i++) acc += values[i];
  return acc;
}

function maxOf(values: ArrayLike<number>): number {
  let acc = -Infinity;
  for (let i = 0; i < values.length; i++) acc = Math.max(acc, values[i]);
  return acc;
}

function reductionOf(reduce: PixelReduction) {
  const reduction = REDUCTIONS[reduce] as (typeof REDUCTIONS)[PixelReduction] | undefined;
  if (!reduction) throw new Error(`Unknown pixel reduction '${String(reduce)}'; use one of ${Object.keys(REDUCTIONS).join(', ')}.`);
  return reduction;
}

function reduceValues(values: ArrayLike<number>, reduce: PixelReduction): number {
  return reductionOf(reduce).values(values);
}

/** One image's score: the per-pixel value of `fn`, reduced over pixels. */
export function acquisitionScore(
  probs: Float32Array,
  shape: { samples: number; pixels: number; classes: number },
  fn: UncertaintyFunction,
  reduce: PixelReduction = 'mean',
): number {
  return reduceValues(pixelUncertainty(probs, shape, fn), reduce);
}

/** 32-bit FNV-1a of a string, for mixing ids into seeds. */
function hashString(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A 32-bit avalanche mix (murmur3 finaliser), so nearby hashes give unrelated scores. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The 'random' acquisition function: a uniform score in [0, 1) per id, from (seed, id) alone — the same item
 * gets the same score whatever batch or order it arrives in, and a new seed (e.g. per phase) reshuffles.
 */
export function randomScores(ids: readonly string[], seed: number): number[] {
  if (!Number.isInteger(seed)) throw new Error(`Random acquisition needs an integer seed, got ${seed}.`);
  const seedMix = mix32(seed ^ 0x9e3779b9);
  return ids.map((id) => mix32(hashString(id, seedMix) ^ seedMix) / 2 ** 32);
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}

/** p log p, with 0 · log 0 = 0 (p is clamped only inside the log). */
function xLogX(p: tf.Tensor): tf.Tensor {
  return p.mul(p.maximum(1e-30).log());
}

/** Σ_c p log p over the last axis. */
function sumXLogX(p: tf.Tensor): tf.Tensor {
  return xLogX(p).sum(-1);
}

/**
 * Streams MC samples for a batch of images. Per pixel and class it keeps the first sample K and the shifted
 * sums Σ(p − K) and Σ(p − K)² (the shift keeps the variance exact in float32: it is exactly 0 when samples
 * agree, where Σp² − (Σp)²/T would leave rounding noise), and per pixel Σ_t Σ_c p log p.
 * Memory is four tensors of the batch's output size, whatever T is.
 */
export class MCMomentAccumulator {
  private count = 0;
  private shift: tf.Tensor3D | undefined;
  private shiftedSum: tf.Tensor3D | undefined;
  private shiftedSquares: tf.Tensor3D | undefined;
  private entropySum: tf.Tensor2D | undefined;
  private pixelShape: number[] = [];
  /** Samples have one (sigmoid) channel: the moments kept are p's alone. */
  private binary = false;

  get samples(): number {
    return this.count;
  }

  /**
   * Adds `passes` passes (default 1): probabilities [passes · batch, ...pixels, classes], pass-major (classes 1 =
   * sigmoid), as stacked MC passes come out of one tail call; a handful of ops per call, whatever `passes` is.
   * Does not take ownership.
   */
  add(probs: tf.Tensor, passes = 1): void {
    if (probs.rank < 3) throw new Error(`MC samples must be [batch, ...pixels, classes]; got shape [${probs.shape}].`);
    if (!(Number.isInteger(passes) && passes >= 1) || probs.shape[0] % passes !== 0) {
      throw new Error(`A sample of ${probs.shape[0]} rows cannot hold ${passes} stacked passes.`);
    }
    const [rows, ...rest] = probs.shape;
    const batch = rows / passes;
    const pixelShape = rest.slice(0, -1);
    const pixels = pixelShape.reduce((a, b) => a * b, 1);
    const classes = rest[rest.length - 1];
    if (this.count > 0 && (batch !== this.shift!.shape[0] || pixelShape.join() !== this.pixelShape.join() || classes !== this.shift!.shape[2])) {
      throw new Error(`MC sample shape [${probs.shape}] differs from earlier samples of this batch.`);
    }
    const previous = [this.shiftedSum, this.shiftedSquares, this.entropySum];
    if (this.count === 0) this.binary = classes === 1;
    tf.tidy(() => {
      const p = probs.toFloat().reshape([passes, batch, pixels, classes]) as tf.Tensor4D;
      // One sigmoid channel stands for two classes, p and 1 − p: their entropy terms are summed here, and their
      // moments follow from p's (Σ(q − K_q) = −Σ(p − K_p), same squares), so only p's are kept (see `classMoments`).
      const entropyTerm = (this.binary ? xLogX(p).add(xLogX(tf.sub(1, p))).squeeze([3]) : sumXLogX(p)).sum(0) as tf.Tensor2D;
      if (this.count === 0) this.shift = tf.keep(p.slice([0], [1]).reshape(p.shape.slice(1)) as tf.Tensor3D);
      const delta = p.sub(this.shift!);
      const sum = delta.sum(0) as tf.Tensor3D;
      const squares = delta.square().sum(0) as tf.Tensor3D;
      this.shiftedSum = tf.keep(this.shiftedSum ? this.shiftedSum.add(sum) : sum) as tf.Tensor3D;
      this.shiftedSquares = tf.keep(this.shiftedSquares ? this.shiftedSquares.add(squares) : squares) as tf.Tensor3D;
      this.entropySum = tf.keep(this.entropySum ? this.entropySum.add(entropyTerm) : entropyTerm);
    });
    if (this.count > 0) tf.dispose(previous.filter(isDefined));
    this.pixelShape = pixelShape;
    this.count += passes;
  }

  /** Per-pixel values of `fn`, shaped [batch, ...pixels]. The caller owns the result. */
  pixelMap(fn: UncertaintyFunction): tf.Tensor {
    if (this.count === 0) throw new Error('No MC samples were added; cannot compute uncertainty.');
    const [batch] = this.shift!.shape;
    const T = this.count;
    return tf.tidy(() => {
      const { shift, shiftedSum, shiftedSquares } = this.classMoments();
      const mean = () => (shiftedSum ? shift.add(shiftedSum.div(T)) : shift);
      const values = formulaOf(TENSOR_FORMULAS, fn)({
        expectedEntropy: () => this.entropySum!.div(-T),
        predictiveEntropy: () => sumXLogX(mean()).neg(),
        meanStd: () => (shiftedSum && shiftedSquares
          ? shiftedSquares.sub(shiftedSum.square().div(T)).div(T).relu().sqrt().mean(2)
          : tf.zeros(this.entropySum!.shape)),
      });
      return values.reshape([batch, ...this.pixelShape]);
    });
  }

  /** Shift and shifted sums per class [batch, pixels, classes]; for one sigmoid channel, of p and 1 − p (in a tidy). */
  private classMoments(): { shift: tf.Tensor3D; shiftedSum?: tf.Tensor3D; shiftedSquares?: tf.Tensor3D } {
    const [shift, sum, squares] = [this.shift!, this.shiftedSum, this.shiftedSquares];
    if (!this.binary) return { shift, shiftedSum: sum, shiftedSquares: squares };
    return {
      shift: tf.concat([shift, tf.sub(1, shift)], 2),
      shiftedSum: sum && tf.concat([sum, sum.neg()], 2),
      shiftedSquares: squares && tf.concat([squares, squares], 2),
    };
  }

  /**
   * Per-image predicted foreground share, shape [batch]: the fraction of pixels whose mean foreground probability
   * over the T passes is above 0.5 (the last class; for one sigmoid channel, p). What stratifies a batch by
   * predicted structure size (selection mode 'clasp'). The caller owns the result.
   */
  foregroundShare(): tf.Tensor1D {
    if (this.count === 0) throw new Error('No MC samples were added; cannot compute the predicted foreground.');
    const T = this.count;
    return tf.tidy(() => {
      const mean = this.shiftedSum ? this.shift!.add(this.shiftedSum.div(T)) : this.shift!;
      const classes = (mean.shape as [number, number, number])[2];
      const foreground = mean.slice([0, 0, classes - 1], [-1, -1, 1]).squeeze([2]);
      return foreground.greater(0.5).toFloat().mean(1) as tf.Tensor1D;
    });
  }

  /** Per-image scores of `fn`, shape [batch]. The caller owns the result. */
  imageScores(fn: UncertaintyFunction, reduce: PixelReduction = 'mean'): tf.Tensor1D {
    const reduction = reductionOf(reduce);
    return tf.tidy(() => {
      const map = this.pixelMap(fn);
      return reduction.tensor(map.reshape([map.shape[0], -1]) as tf.Tensor2D);
    });
  }

  /** Frees the running sums and forgets the samples; the accumulator can then start a new batch. */
  dispose(): void {
    tf.dispose([this.shift, this.shiftedSum, this.shiftedSquares, this.entropySum].filter(isDefined));
    this.shift = this.shiftedSum = this.shiftedSquares = this.entropySum = undefined;
    this.count = 0;
    this.pixelShape = [];
  }
}
