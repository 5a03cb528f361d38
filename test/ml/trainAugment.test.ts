import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import { augmentBatch, clahe, medianBlur3, PAPER_AUGMENTATIONS, type AugmentConfig } from '../../ml/train/augment';
import { SeededRng } from '../../ml/train/rng';

const S = 32;

/** B images of S×S with a bright disc; mask = the disc. Image equals the mask when `plain`. */
function discs(b: number, plain: boolean): { images: tf.Tensor4D; masks: tf.Tensor4D } {
  const img = new Float32Array(b * S * S);
  const mask = new Float32Array(b * S * S);
  for (let i = 0; i < b; i++) {
    const cy = 10 + 3 * i;
    const cx = 12 + 2 * i;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const inside = (y - cy) ** 2 + (x - cx) ** 2 <= 36 ? 1 : 0;
        mask[i * S * S + y * S + x] = inside;
        img[i * S * S + y * S + x] = plain ? inside : 0.2 + 0.6 * inside + 0.1 * Math.sin(x + y);
      }
    }
  }
  return { images: tf.tensor4d(img, [b, S, S, 1]), masks: tf.tensor4d(mask, [b, S, S, 1]) };
}

function isBinary(t: tf.Tensor): boolean {
  return Array.from(t.dataSync()).every((v) => v === 0 || v === 1);
}

const always: Record<string, AugmentConfig> = {
  rotation: { rotation: { p: 1, maxDegrees: 40 } },
  horizontalFlip: { horizontalFlip: { p: 1 } },
  verticalFlip: { verticalFlip: { p: 1 } },
  transpose: { transpose: { p: 1 } },
  gaussianNoise: { gaussianNoise: { p: 1 } },
  plainBlur: { blur: { p: 1, kinds: ['plain'] } },
  medianBlur: { blur: { p: 1, kinds: ['median'] } },
  motionBlur: { blur: { p: 1, kinds: ['motion'] } },
  opticalDistortion: { opticalDistortion: { p: 1, distortLimit: 0.5 } },
  gridDistortion: { gridDistortion: { p: 1 } },
  piecewiseAffine: { piecewiseAffine: { p: 1 } },
  clahe: { clahe: { p: 1, tiles: 4 } },
  brightnessContrast: { brightnessContrast: { p: 1 } },
  all: Object.fromEntries(Object.entries(PAPER_AUGMENTATIONS).map(([k, v]) => [k, { ...v, p: 1 }])),
};
const geometric = ['rotation', 'horizontalFlip', 'verticalFlip', 'transpose', 'opticalDistortion', 'gridDistortion', 'piecewiseAffine'];
const photometric = ['gaussianNoise', 'plainBlur', 'medianBlur', 'motionBlur', 'clahe', 'brightnessContrast'];

describe('augmentBatch', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it.each(Object.keys(always))('%s keeps shapes, the [0,1] range and binary masks, and changes the image', (name) => {
    const { images, masks } = discs(3, false);
    const out = augmentBatch(images, masks, always[name], new SeededRng(7));
    expect(out.images.shape).toEqual(images.shape);
    expect(out.masks.shape).toEqual(masks.shape);
    expect(isBinary(out.masks)).toBe(true);
    expect(out.images.min().dataSync()[0]).toBeGreaterThanOrEqual(0);
    expect(out.images.max().dataSync()[0]).toBeLessThanOrEqual(1);
    expect(tf.abs(tf.sub(out.images, images)).max().dataSync()[0]).toBeGreaterThan(1e-3);
    tf.dispose([images, masks, out.images, out.masks]);
  });

  it.each(geometric)('%s moves mask and image together', (name) => {
    const { images, masks } = discs(3, true);
    const out = augmentBatch(images, masks, always[name], new SeededRng(11));
    const fromImage = tf.cast(tf.greaterEqual(out.images, 0.5), 'float32');
    expect(Array.from(out.masks.dataSync())).toEqual(Array.from(fromImage.dataSync()));
    // The op really moved the disc (otherwise this test could not fail).
    expect(tf.abs(tf.sub(out.masks, masks)).sum().dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([images, masks, out.images, out.masks, fromImage]);
  });

  it.each(photometric)('%s leaves masks untouched', (name) => {
    const { images, masks } = discs(2, false);
    const out = augmentBatch(images, masks, always[name], new SeededRng(3));
    expect(Array.from(out.masks.dataSync())).toEqual(Array.from(masks.dataSync()));
    tf.dispose([images, masks, out.images, out.masks]);
  });

  it('flips and transposes a single-pixel image exactly, with its mask', () => {
    const one = new Float32Array(S * S);
    one[2 * S + 5] = 1; // (y = 2, x = 5)
    const img = tf.tensor4d(one, [1, S, S, 1]);
    const where = (t: tf.Tensor) => {
      const i = Array.from(t.dataSync()).indexOf(1);
      return [Math.floor(i / S), i % S];
    };
    const cases: [AugmentConfig, number[]][] = [
      [always.horizontalFlip, [2, S - 1 - 5]],
      [always.verticalFlip, [S - 1 - 2, 5]],
      [always.transpose, [5, 2]],
    ];
    for (const [config, expected] of cases) {
      const out = augmentBatch(img, img, config, new SeededRng(1));
      expect(where(out.images)).toEqual(expected);
      expect(where(out.masks)).toEqual(expected);
      expect(out.images.sum().dataSync()[0]).toBe(1);
      tf.dispose([out.images, out.masks]);
    }
    img.dispose();
  });

  it.each(Object.keys(always).filter((k) => k !== 'gaussianNoise'))('%s treats the channels of a 3-channel image alike', (name) => {
    // Grey frames stored as RGB: every op but the (per-channel) noise must give three identical channels,
    // which also catches kernels or samples landing on the wrong channel.
    const { images, masks } = discs(3, false);
    const rgb = tf.tile(images, [1, 1, 1, 3]) as tf.Tensor4D;
    const out = augmentBatch(rgb, masks, { ...always[name], gaussianNoise: false }, new SeededRng(21));
    const [r, g, b] = tf.split(out.images, 3, 3);
    expect(tf.abs(tf.sub(r, g)).max().dataSync()[0]).toBe(0);
    expect(tf.abs(tf.sub(r, b)).max().dataSync()[0]).toBe(0);
    tf.dispose([images, masks, rgb, out.images, out.masks, r, g, b]);
  });

  it('warps one-hot masks into one-hot masks', () => {
    const { images, masks } = discs(2, true);
    const oneHot = tf.concat([tf.sub(1, masks), masks], 3) as tf.Tensor4D;
    const out = augmentBatch(images, oneHot, { rotation: { p: 1 }, gridDistortion: { p: 1 } }, new SeededRng(5));
    expect(out.masks.shape).toEqual([2, S, S, 2]);
    expect(isBinary(out.masks)).toBe(true);
    expect(Array.from(out.masks.sum(3).dataSync()).every((v) => v === 1)).toBe(true);
    tf.dispose([images, masks, oneHot, out.images, out.masks]);
  });

  it('is reproducible from the seed and differs across seeds', () => {
    const { images, masks } = discs(4, false);
    const run = (seed: number) => augmentBatch(images, masks, always.all, new SeededRng(seed));
    const a = run(42);
    const b = run(42);
    const c = run(43);
    expect(Array.from(a.images.dataSync())).toEqual(Array.from(b.images.dataSync()));
    expect(Array.from(a.masks.dataSync())).toEqual(Array.from(b.masks.dataSync()));
    expect(tf.abs(tf.sub(a.images, c.images)).max().dataSync()[0]).toBeGreaterThan(1e-3);
    tf.dispose([images, masks, a.images, a.masks, b.images, b.masks, c.images, c.masks]);
  });

  it('applies each augmentation to about p of the images', () => {
    const b = 200;
    const images = tf.randomUniform([b, 4, 4, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const masks = tf.zeros([b, 4, 4, 1]) as tf.Tensor4D;
    const out = augmentBatch(images, masks, { horizontalFlip: { p: 0.2 } }, new SeededRng(9));
    const changed = Array.from(tf.abs(tf.sub(out.images, images)).max([1, 2, 3]).dataSync()).filter((d) => d > 0).length;
    expect(changed).toBeGreaterThan(20);
    expect(changed).toBeLessThan(60);
    tf.dispose([images, masks, out.images, out.masks]);
  });

  it('does not leak tensors', () => {
    const { images, masks } = discs(2, false);
    augmentBatch(images, masks, always.all, new SeededRng(1)); // warm-up: kernels may cache constants
    const before = tf.memory().numTensors;
    const out = augmentBatch(images, masks, always.all, new SeededRng(2));
    tf.dispose([out.images, out.masks]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([images, masks]);
  });

  it('rejects transpose of non-square images', () => {
    const images = tf.zeros([1, 4, 6, 1]) as tf.Tensor4D;
    expect(() => augmentBatch(images, images, { transpose: { p: 0.5 } }, new SeededRng(1))).toThrow(/square/);
    images.dispose();
  });
});

describe('augmentation building blocks', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('3×3 median removes an isolated bright pixel and keeps a flat image', () => {
    const v = new Float32Array(25).fill(0.5);
    v[12] = 1;
    const img = tf.tensor4d(v, [1, 5, 5, 1]);
    const out = medianBlur3(img);
    expect(Array.from(out.dataSync()).every((x) => x === 0.5)).toBe(true);
    tf.dispose([img, out]);
  });

  it('3×3 median equals a direct median of each reflect-padded neighbourhood', () => {
    const rng = new SeededRng(4);
    const [b, h, w, c] = [2, 5, 7, 2];
    const values = Array.from({ length: b * h * w * c }, () => rng.next());
    const img = tf.tensor4d(values, [b, h, w, c]);
    const out = medianBlur3(img).dataSync();
    const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * n - 2 - i : i);
    for (let s = 0; s < b; s++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) {
      const hood: number[] = [];
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        hood.push(values[((s * h + reflect(y + dy, h)) * w + reflect(x + dx, w)) * c + ch]);
      }
      hood.sort((p, q) => p - q);
      expect(out[((s * h + y) * w + x) * c + ch]).toBeCloseTo(hood[4], 6);
    }
    img.dispose();
  });

  it('CLAHE stretches a low-contrast image and stays within [0, 1]', () => {
    const ramp = tf.tidy(() => tf.add(0.4, tf.mul(0.2, tf.div(tf.range(0, S * S), S * S))).reshape([1, S, S, 1])) as tf.Tensor4D;
    const out = clahe(ramp, 4, 4);
    const unclipped = clahe(ramp, 1000, 4);
    const spread = (t: tf.Tensor) => tf.sub(t.max(), t.min()).dataSync()[0];
    expect(spread(out)).toBeGreaterThan(1.2 * spread(ramp));
    // Without a clip limit every tile is fully equalised; the clip limit tames that.
    expect(spread(unclipped)).toBeGreaterThan(0.8);
    expect(spread(unclipped)).toBeGreaterThan(spread(out));
    expect(out.min().dataSync()[0]).toBeGreaterThanOrEqual(0);
    expect(out.max().dataSync()[0]).toBeLessThanOrEqual(1);
    // Identical tiles get identical tables, so a flat image stays flat (the tile blending adds no seams).
    const flat = tf.fill([1, S, S, 1], 0.3) as tf.Tensor4D;
    const flatOut = clahe(flat, 4, 4);
    expect(spread(flatOut)).toBeLessThan(1e-6);
    tf.dispose([ramp, out, unclipped, flat, flatOut]);
  });
});
