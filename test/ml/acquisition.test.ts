import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  acquisitionScore,
  MCMomentAccumulator,
  randomScores,
  UNCERTAINTY_FUNCTIONS,
  type PixelReduction,
  type UncertaintyFunction,
} from '../../ml/acquisition';
import { initBackend } from '../../ml/backend';

beforeAll(async () => {
  await initBackend('auto', () => {});
});

const LN2 = Math.log(2);

/** Deterministic uniform numbers for property tests (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Random softmax-like probabilities [samples][pixels][classes], each pixel's classes summing to 1. */
function randomProbs(samples: number, pixels: number, classes: number, seed: number): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(samples * pixels * classes);
  for (let i = 0; i < samples * pixels; i++) {
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[i * classes + c] = next() ** 3 + 1e-3;
    for (let c = 0; c < classes; c++) out[i * classes + c] /= sum;
  }
  return out;
}

describe('acquisitionScore, hand-computed', () => {
  // T = 2, 2 pixels, 2 classes, laid out [t][pixel][class]:
  //   pixel 0: t1 = (1, 0), t2 = (0, 1)      — the samples disagree completely
  //   pixel 1: t1 = (½, ½), t2 = (½, ½)      — the samples agree on maximal uncertainty
  // pixel 0: each sample's entropy is 0 → CFE 0; p̄ = (½, ½) → MFE ln 2; MI ln 2;
  //          per class the values {1, 0} have population std ½ → STD ½.
  // pixel 1: each sample's entropy is ln 2 → CFE ln 2; p̄ = (½, ½) → MFE ln 2; MI 0; STD 0.
  const probs = Float32Array.from([1, 0, 0.5, 0.5, 0, 1, 0.5, 0.5]);
  const shape = { samples: 2, pixels: 2, classes: 2 };
  const expected: Record<UncertaintyFunction, Record<PixelReduction, number>> = {
    cfe: { mean: LN2 / 2, sum: LN2, max: LN2 },
    mfe: { mean: LN2, sum: 2 * LN2, max: LN2 },
    mi: { mean: LN2 / 2, sum: LN2, max: LN2 },
    std: { mean: 0.25, sum: 0.5, max: 0.5 },
  };
  for (const fn of UNCERTAINTY_FUNCTIONS) {
    for (const reduce of ['mean', 'sum', 'max'] as const) {
      it(`${fn} reduced by ${reduce}`, () => {
        expect(acquisitionScore(probs, shape, fn, reduce)).toBeCloseTo(expected[fn][reduce], 6);
      });
    }
  }

  it('reduces by mean when no reduction is given', () => {
    expect(acquisitionScore(probs, shape, 'mfe')).toBeCloseTo(LN2, 6);
  });

  // T = 2, 1 pixel: t1 = (0.8, 0.2), t2 = (0.4, 0.6).
  //   H(t1) = −(0.8 ln 0.8 + 0.2 ln 0.2) = 0.178515 + 0.321888 = 0.500402
  //   H(t2) = −(0.4 ln 0.4 + 0.6 ln 0.6) = 0.366516 + 0.306495 = 0.673012
  //   CFE = (0.500402 + 0.673012) / 2 = 0.586707
  //   p̄ = (0.6, 0.4) → MFE = H(0.6, 0.4) = 0.673012;  MI = 0.086305
  //   STD: class 0 {0.8, 0.4} → 0.2, class 1 {0.2, 0.6} → 0.2 → 0.2
  const graded = { cfe: 0.586707, mfe: 0.673012, mi: 0.086305, std: 0.2 };
  it('matches a graded two-class case', () => {
    const twoClass = Float32Array.from([0.8, 0.2, 0.4, 0.6]);
    for (const fn of UNCERTAINTY_FUNCTIONS) {
      expect(acquisitionScore(twoClass, { samples: 2, pixels: 1, classes: 2 }, fn)).toBeCloseTo(graded[fn], 5);
    }
  });

  it('treats a one-channel (sigmoid) output as the two classes (p, 1 − p)', () => {
    const sigmoid = Float32Array.from([0.8, 0.4]);
    for (const fn of UNCERTAINTY_FUNCTIONS) {
      expect(acquisitionScore(sigmoid, { samples: 2, pixels: 1, classes: 1 }, fn)).toBeCloseTo(graded[fn], 5);
    }
  });

  // T = 2, 1 pixel, 3 classes: t1 = (1, 0, 0), t2 = (0, 0, 1).
  //   CFE 0 (one-hot samples); p̄ = (½, 0, ½) → MFE ln 2 (0 · log 0 = 0); MI ln 2
  //   STD: classes 0 and 2 have std ½, class 1 has 0 → mean over classes = 1/3
  it('averages STD over classes and handles 0 · log 0 with three classes', () => {
    const three = Float32Array.from([1, 0, 0, 0, 0, 1]);
    const shape3 = { samples: 2, pixels: 1, classes: 3 };
    expect(acquisitionScore(three, shape3, 'cfe')).toBe(0);
    expect(acquisitionScore(three, shape3, 'mfe')).toBeCloseTo(LN2, 6);
    expect(acquisitionScore(three, shape3, 'mi')).toBeCloseTo(LN2, 6);
    expect(acquisitionScore(three, shape3, 'std')).toBeCloseTo(1 / 3, 6);
  });

  it('rejects probabilities that do not match the shape, and unknown functions', () => {
    expect(() => acquisitionScore(new Float32Array(7), shape, 'cfe')).toThrow(/needs 8/);
    expect(() => acquisitionScore(probs, shape, 'entropy' as 'cfe')).toThrow(/Unknown acquisition function/);
    expect(() => acquisitionScore(probs, shape, 'cfe', 'median' as 'mean')).toThrow(/Unknown pixel reduction/);
  });
});

describe('acquisitionScore, properties', () => {
  it('is 0 for every function when all samples are the same one-hot mask', () => {
    // 3 samples of the same 4-pixel, 3-class one-hot mask.
    const mask = [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0];
    const probs = Float32Array.from([...mask, ...mask, ...mask]);
    for (const fn of UNCERTAINTY_FUNCTIONS) {
      for (const reduce of ['mean', 'sum', 'max'] as const) {
        expect(acquisitionScore(probs, { samples: 3, pixels: 4, classes: 3 }, fn, reduce)).toBe(0);
      }
    }
  });

  it('has mfe ≥ cfe and mi ≥ 0 on random probabilities', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const shape = { samples: 5, pixels: 6, classes: 2 + (seed % 3) };
      const probs = randomProbs(shape.samples, shape.pixels, shape.classes, seed);
      const mfe = acquisitionScore(probs, shape, 'mfe');
      const cfe = acquisitionScore(probs, shape, 'cfe');
      expect(mfe).toBeGreaterThanOrEqual(cfe);
      expect(acquisitionScore(probs, shape, 'mi')).toBeGreaterThan(0);
      expect(acquisitionScore(probs, shape, 'mi')).toBeCloseTo(mfe - cfe, 9);
    }
  });

  it('has std = 0 and mi = 0 when the (non one-hot) samples agree, but positive entropies', () => {
    const one = randomProbs(1, 5, 3, 99);
    const probs = Float32Array.from([...one, ...one, ...one, ...one]);
    const shape = { samples: 4, pixels: 5, classes: 3 };
    expect(acquisitionScore(probs, shape, 'std')).toBe(0);
    expect(acquisitionScore(probs, shape, 'mi')).toBeCloseTo(0, 12);
    expect(acquisitionScore(probs, shape, 'cfe')).toBeGreaterThan(0.1);
  });
});

describe('randomScores', () => {
  const ids = Array.from({ length: 50 }, (_, i) => `video-${i % 5}/frame-${i}`);

  it('is reproducible with its seed, uniform-looking in [0, 1), and differs across seeds', () => {
    const a = randomScores(ids, 42);
    expect(randomScores(ids, 42)).toEqual(a);
    expect(a.every((s) => s >= 0 && s < 1)).toBe(true);
    expect(new Set(a).size).toBe(ids.length);
    const mean = a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean).toBeGreaterThan(0.3);
    expect(mean).toBeLessThan(0.7);
    const b = randomScores(ids, 43);
    expect(b.filter((s, i) => s !== a[i]).length).toBe(ids.length);
  });

  it('gives an id the same score whatever batch or order it comes in', () => {
    const all = randomScores(ids, 7);
    const reversed = randomScores([...ids].reverse(), 7).reverse();
    expect(reversed).toEqual(all);
    expect(randomScores([ids[17]], 7)[0]).toBe(all[17]);
  });

  it('rejects a non-integer seed', () => {
    expect(() => randomScores(ids, 0.5)).toThrow(/integer seed/);
  });
});

describe('MCMomentAccumulator (streaming on the backend)', () => {
  /** Splits [T][batch][pixels][classes] into per-image [T][pixels][classes] arrays. */
  function perImage(probs: Float32Array, T: number, batch: number, pixels: number, classes: number): Float32Array[] {
    return Array.from({ length: batch }, (_, b) => {
      const out = new Float32Array(T * pixels * classes);
      for (let t = 0; t < T; t++) {
        const from = ((t * batch + b) * pixels) * classes;
        out.set(probs.subarray(from, from + pixels * classes), t * pixels * classes);
      }
      return out;
    });
  }

  /** Adds the T samples in groups of `group` stacked passes (pass-major along the batch axis; the last group may be short). */
  async function streamed(probs: Float32Array, T: number, dims: number[], fn: UncertaintyFunction, reduce: PixelReduction, group = 1) {
    const acc = new MCMomentAccumulator();
    const perSample = dims.reduce((a, b) => a * b, 1);
    for (let t = 0; t < T; t += group) {
      const passes = Math.min(group, T - t);
      const sample = tf.tensor(probs.subarray(t * perSample, (t + passes) * perSample), [passes * dims[0], ...dims.slice(1)]);
      acc.add(sample, passes);
      sample.dispose();
    }
    const scores = acc.imageScores(fn, reduce);
    const values = Array.from(await scores.data());
    scores.dispose();
    acc.dispose();
    return values;
  }

  for (const classes of [1, 3]) {
    it(`equals the direct formula on random probabilities (${classes === 1 ? 'sigmoid' : 'softmax'})`, async () => {
      const [T, batch, h, w] = [7, 3, 4, 5];
      const probs =
        classes === 1
          ? Float32Array.from(randomProbs(T * batch * h * w, 1, 2, 5).filter((_, i) => i % 2 === 0))
          : randomProbs(T, batch * h * w, classes, 6);
      const images = perImage(probs, T, batch, h * w, classes);
      for (const fn of UNCERTAINTY_FUNCTIONS) {
        for (const reduce of ['mean', 'sum', 'max'] as const) {
          const want = images.map((img) => acquisitionScore(img, { samples: T, pixels: h * w, classes }, fn, reduce));
          // One pass per call, and stacked passes (3 + 3 + 1), as fast MC's tail calls deliver them.
          for (const group of [1, 3]) {
            const got = await streamed(probs, T, [batch, h, w, classes], fn, reduce, group);
            got.forEach((g, i) => expect(g).toBeCloseTo(want[i], reduce === 'sum' ? 4 : 5));
          }
        }
      }
    });
  }

  it('gives exactly 0 for identical one-hot samples and std exactly 0 for identical soft samples', async () => {
    const oneHot = tf.oneHot(tf.tensor2d([[0, 1], [2, 1]], [2, 2], 'int32'), 3).toFloat().reshape([1, 2, 2, 3]);
    const soft = tf.softmax(tf.randomNormal([2, 3, 3, 4], 0, 1, 'float32', 3));
    const sigmoid = tf.sigmoid(tf.randomNormal([2, 3, 3, 1], 0, 1, 'float32', 4));
    for (const [sample, fns] of [[oneHot, UNCERTAINTY_FUNCTIONS], [soft, ['std'] as const], [sigmoid, ['std'] as const]] as const) {
      const acc = new MCMomentAccumulator();
      for (let t = 0; t < 5; t++) acc.add(sample);
      for (const fn of fns) {
        const map = acc.pixelMap(fn);
        expect(Array.from(await map.data()).every((v) => v === 0)).toBe(true);
        map.dispose();
      }
      acc.dispose();
    }
    tf.dispose([oneHot, soft, sigmoid]);
  });

  it('returns per-pixel maps shaped like the image and keeps only its moments in memory', async () => {
    const before = tf.memory().numTensors;
    const acc = new MCMomentAccumulator();
    for (let t = 0; t < 10; t++) {
      const sample = tf.tidy(() => tf.sigmoid(tf.randomNormal([2, 6, 4, 1])));
      acc.add(sample);
      sample.dispose();
      // The first sample, the shifted sums of p and p², and the entropy sum: constant in T.
      if (t > 0) expect(tf.memory().numTensors).toBe(before + 4);
    }
    expect(acc.samples).toBe(10);
    const map = acc.pixelMap('mfe');
    expect(map.shape).toEqual([2, 6, 4]);
    map.dispose();
    acc.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a sample whose shape differs from the batch it is accumulating', () => {
    const acc = new MCMomentAccumulator();
    const a = tf.ones([1, 2, 2, 1]).mul(0.5);
    const b = tf.ones([2, 2, 2, 1]).mul(0.5);
    const twoClasses = tf.ones([1, 2, 2, 2]).mul(0.5);
    acc.add(a);
    expect(() => acc.add(b)).toThrow(/differs/);
    // A sigmoid batch keeps p's moments only: a two-class sample cannot join it.
    expect(() => acc.add(twoClasses)).toThrow(/differs/);
    acc.dispose();
    tf.dispose([a, b, twoClasses]);
    expect(() => acc.pixelMap('cfe')).toThrow(/No MC samples/);
  });
});
