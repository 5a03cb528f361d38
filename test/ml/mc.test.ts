import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { acquisitionScore, randomScores, UNCERTAINTY_FUNCTIONS } from '../../ml/acquisition';
import { initBackend } from '../../ml/backend';
import { dropoutMask, dropoutScale, fillKeepMask, MCDropout, setMCDropoutSeed, setMCMode } from '../../ml/layers/mcDropout';
import { mcScorePool, type MCMode, type MCNet, type PoolBatch } from '../../ml/mcSampling';
import { decoderDropoutNet, headDropoutNet, testImages } from './helpers/mcNets';
import { buildModel } from '../../ml/zoo';

beforeAll(async () => {
  await initBackend('auto', () => {});
});

const ids = ['v1/f1', 'v1/f2', 'v2/f1', 'v2/f2', 'v3/f1'];
const loader = { ids, load: async (batch: string[]) => testImages(batch) };

function mcActiveFlags(net: MCNet): boolean[] {
  return net.model.layers.filter((l): l is MCDropout => l instanceof MCDropout).map((l) => l.mcActive);
}

async function runPool(net: MCNet, mode: MCMode, dropoutSeed: number | undefined, samples = 4) {
  const maps = new Map<string, Float32Array>();
  const features = new Map<string, Float32Array>();
  const results = await mcScorePool({
    net,
    pool: loader,
    mode,
    samples,
    batchSize: 2,
    functions: ['cfe', 'mfe', 'mi', 'std'],
    dropoutSeed,
    maps: { fn: 'mi', onMap: (id, map) => void maps.set(id, map) },
    onFeatures: (id, f) => void features.set(id, f),
    areas: true,
  });
  return { results, maps, features };
}

describe('dropout masks', () => {
  it('keep each value with probability keep, scaled by 1/keep, reproducibly per seed', () => {
    for (const keep of [0.5, 0.7, 0.9]) {
      const mask = dropoutMask(200_001, keep, 'seed/layer/1');
      const kept = mask.filter((v) => v > 0);
      // Binomial std of the kept fraction is about 0.001 here; allow 5 of them.
      expect(Math.abs(kept.length / mask.length - keep)).toBeLessThan(0.005);
      expect(new Set(kept).size).toBe(1);
      expect(kept[0]).toBeCloseTo(1 / keep, 4);
      expect(Math.abs(mask.reduce((a, b) => a + b, 0) / mask.length - 1)).toBeLessThan(0.01);
    }
    expect(dropoutMask(1000, 0.5, 'a')).toEqual(dropoutMask(1000, 0.5, 'a'));
    const [a, b] = [dropoutMask(1000, 0.5, 'a'), dropoutMask(1000, 0.5, 'b')];
    expect(a.filter((v, i) => v !== b[i]).length).toBeGreaterThan(400);
    const [u, v] = [dropoutMask(1000, 0.5, undefined), dropoutMask(1000, 0.5, undefined)];
    expect(u.filter((x, i) => x !== v[i]).length).toBeGreaterThan(400);
  });

  it('draws each value independently, 32 at a time, whatever the keep and however the target is laid out', () => {
    const size = 320_000;
    for (const keep of [0.3, 0.5, 0.7, 0.123457]) {
      const kept = new Uint8Array(size);
      fillKeepMask(kept, keep, `independence/${keep}`);
      const fraction = (offset: number) => {
        let both = 0;
        for (let i = 0; i + offset < size; i++) both += kept[i] & kept[i + offset];
        return both / (size - offset);
      };
      // Kept fraction ≈ keep, and pairs of values — neighbours in a word, across words, the same lane of the next
      // word — kept together ≈ keep², as independent draws are (binomial std ≤ 0.001 here; allow 5 of them).
      expect(Math.abs(fraction(0) - keep)).toBeLessThan(0.005);
      for (const offset of [1, 31, 32, 33]) expect(Math.abs(fraction(offset) - keep * keep)).toBeLessThan(0.005);
    }
    // A view at an odd byte offset and an odd length gets the values an aligned array of that length gets.
    const aligned = new Uint8Array(1003);
    const unaligned = new Uint8Array(1010).subarray(3, 1006);
    fillKeepMask(aligned, 0.6, 'layout');
    fillKeepMask(unaligned, 0.6, 'layout');
    expect(Array.from(unaligned)).toEqual(Array.from(aligned));
    // keep that rounds to 1 keeps everything, unscaled; keep that rounds to 0 drops everything.
    const all = new Uint8Array(100);
    fillKeepMask(all, 1 - 1e-6, 'x');
    expect(all.every((k) => k === 1)).toBe(true);
    expect(dropoutScale(1 - 1e-6)).toBe(1);
    fillKeepMask(all, 1e-6, 'x');
    expect(all.every((k) => k === 0)).toBe(true);
  });

  it('draws the same masks per layer call whatever order the layers run in', () => {
    const x = tf.ones([1, 64]);
    const [p, q] = [new MCDropout({ rate: 0.5, name: 'p', mcActive: true }), new MCDropout({ rate: 0.5, name: 'q', mcActive: true })];
    setMCDropoutSeed(3);
    const pFirst = [p.apply(x), q.apply(x), p.apply(x)] as tf.Tensor[];
    setMCDropoutSeed(3);
    const qFirst = [q.apply(x), p.apply(x), p.apply(x)] as tf.Tensor[];
    setMCDropoutSeed(undefined);
    expect(Array.from(pFirst[0].dataSync())).toEqual(Array.from(qFirst[1].dataSync()));
    expect(Array.from(pFirst[1].dataSync())).toEqual(Array.from(qFirst[0].dataSync()));
    expect(Array.from(pFirst[2].dataSync())).toEqual(Array.from(qFirst[2].dataSync()));
    expect(Array.from(pFirst[0].dataSync())).not.toEqual(Array.from(pFirst[2].dataSync()));
    tf.dispose([x, ...pFirst, ...qFirst]);
  });
});

const nets: [string, () => MCNet][] = [
  ['head dropout, sigmoid', () => headDropoutNet(1)],
  ['decoder dropout with a two-output prefix, softmax', () => decoderDropoutNet(3)],
];

describe.each(nets)('fast MC vs naive MC (%s)', (_, makeNet) => {
  const net = makeNet();

  it('draws identical probabilities pass for pass with the same seeded masks', async () => {
    const images = testImages(ids.slice(0, 3));
    const { prefix, tail } = net.mcSplit!();
    const passes = (fast: boolean) => {
      setMCDropoutSeed(11);
      setMCMode(net.model, true);
      const out = tf.tidy(() => {
        const samples: tf.Tensor[] = [];
        for (let t = 0; t < 3; t++) {
          samples.push(fast
            ? (tail.apply(prefix.apply(images, { training: false }) as tf.Tensor[], { training: false }) as tf.Tensor)
            : (net.model.apply(images, { training: false }) as tf.Tensor));
        }
        return tf.stack(samples);
      });
      setMCMode(net.model, false);
      setMCDropoutSeed(undefined);
      return out;
    };
    const naive = passes(false);
    const fast = passes(true);
    const naiveValues = await naive.data();
    const fastValues = await fast.data();
    let maxDiff = 0;
    for (let i = 0; i < naiveValues.length; i++) maxDiff = Math.max(maxDiff, Math.abs(naiveValues[i] - fastValues[i]));
    expect(maxDiff).toBeLessThan(1e-6);
    // The passes really are stochastic: pass 0 and pass 1 differ.
    const [first, second] = tf.unstack(naive);
    expect(tf.max(tf.abs(first.sub(second))).dataSync()[0]).toBeGreaterThan(1e-3);
    tf.dispose([images, naive, fast, first, second]);
  });

  it('gives the same scores, maps and features from mcScorePool with the same dropout seed', async () => {
    const naive = await runPool(net, 'naive', 5);
    const fast = await runPool(net, 'fast', 5);
    expect(fast.results.map((r) => r.id)).toEqual(ids);
    expect(naive.results.map((r) => r.id)).toEqual(ids);
    for (let i = 0; i < ids.length; i++) {
      for (const fn of UNCERTAINTY_FUNCTIONS) {
        expect(fast.results[i].scores[fn]).toBeCloseTo(naive.results[i].scores[fn], 6);
      }
      const a = naive.maps.get(ids[i])!;
      const b = fast.maps.get(ids[i])!;
      expect(a.length).toBe(16 * 16);
      expect(Math.max(...a.map((v, j) => Math.abs(v - b[j])))).toBeLessThan(1e-5);
      expect(Array.from(fast.features.get(ids[i])!)).toEqual(Array.from(naive.features.get(ids[i])!));
    }
    // A different seed draws different masks and so different scores: the comparison above can fail.
    const other = await runPool(net, 'fast', 6);
    expect(Math.abs(other.results[0].scores.mfe - fast.results[0].scores.mfe)).toBeGreaterThan(1e-6);
  });

  it('scores match the direct formula on the same samples', async () => {
    const T = 3;
    const { results } = await runPool(net, 'fast', 9, T);
    // Replay the same seeded passes for image 'v1/f1' (batch 1 = ['v1/f1', 'v1/f2']) and score them directly.
    const { prefix, tail } = net.mcSplit!();
    const images = testImages(ids.slice(0, 2));
    setMCDropoutSeed(9);
    setMCMode(net.model, true);
    const samples = tf.tidy(() => {
      const features = prefix.apply(images, { training: false }) as tf.Tensor[];
      const passes: tf.Tensor[] = [];
      for (let t = 0; t < T; t++) passes.push((tail.apply(features, { training: false }) as tf.Tensor).slice(0, 1));
      return tf.stack(passes);
    });
    setMCMode(net.model, false);
    setMCDropoutSeed(undefined);
    const classes = samples.shape[samples.rank - 1];
    const probs = (await samples.data()) as Float32Array;
    for (const fn of UNCERTAINTY_FUNCTIONS) {
      const direct = acquisitionScore(probs, { samples: T, pixels: 16 * 16, classes }, fn);
      expect(results[0].scores[fn]).toBeCloseTo(direct, 5);
    }
    // The predicted area: pixels whose mean foreground probability (the last class) over the T passes is above 0.5.
    let foreground = 0;
    for (let px = 0; px < 16 * 16; px++) {
      let sum = 0;
      for (let t = 0; t < T; t++) sum += probs[(t * 16 * 16 + px) * classes + classes - 1];
      if (sum / T > 0.5) foreground += 1;
    }
    expect(results[0].area).toBeCloseTo(foreground / (16 * 16), 6);
    expect(results.every((r) => r.area! >= 0 && r.area! <= 1)).toBe(true);
    tf.dispose([images, samples]);
  });

  it('leaves no tensors behind and switches MC mode off again', async () => {
    await runPool(net, 'fast', undefined, 2);
    for (const mode of ['fast', 'naive'] as const) {
      const before = tf.memory().numTensors;
      const { results } = await runPool(net, mode, undefined, 3);
      expect(tf.memory().numTensors).toBe(before);
      expect(results.every((r) => r.scores.mfe > 0 && r.scores.std > 0)).toBe(true);
      expect(mcActiveFlags(net).every((active) => !active)).toBe(true);
    }
  });
});

describe('mcScorePool', () => {
  const net = headDropoutNet(2, 3);

  it('reports progress per batch and accepts an async iterator of batches', async () => {
    const progress: number[] = [];
    await mcScorePool({
      net, pool: loader, samples: 2, batchSize: 2, functions: ['mfe'],
      onProgress: (p) => void progress.push(p.imagesDone, p.imagesTotal!),
    });
    expect(progress).toEqual([2, 5, 4, 5, 5, 5]);

    async function* batches(): AsyncGenerator<PoolBatch> {
      yield { ids: ['a', 'b', 'c'], images: testImages(['a', 'b', 'c']) };
      yield { ids: ['d'], images: testImages(['d']) };
    }
    const before = tf.memory().numTensors;
    const results = await mcScorePool({ net, pool: batches(), samples: 2, functions: ['std', 'random'], randomSeed: 4 });
    expect(tf.memory().numTensors).toBe(before);
    expect(results.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(Object.keys(results[0].scores).sort()).toEqual(['random', 'std']);
  });

  it('computes several functions from the same passes, with the chosen reduction', async () => {
    const run = (reduce: 'mean' | 'sum' | 'max') =>
      mcScorePool({ net, pool: loader, samples: 3, functions: ['cfe', 'mi'], reduce, dropoutSeed: 21 });
    const [mean, sum, max] = [await run('mean'), await run('sum'), await run('max')];
    for (let i = 0; i < ids.length; i++) {
      expect(sum[i].scores.cfe).toBeCloseTo(mean[i].scores.cfe * 256, 3);
      expect(max[i].scores.mi).toBeGreaterThanOrEqual(mean[i].scores.mi);
    }
  });

  it('refuses a second concurrent run on the same model', async () => {
    const first = mcScorePool({ net, pool: loader, samples: 2, functions: ['mfe'] });
    await expect(mcScorePool({ net, pool: loader, samples: 2, functions: ['mfe'] })).rejects.toThrow(/already in progress/);
    expect(await first).toHaveLength(ids.length);
  });

  it('says what is wrong with a model without dropout, a bad split, or random without a seed', async () => {
    const input = tf.input({ shape: [16, 16, 3] });
    const plain = tf.model({ inputs: input, outputs: tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid' }).apply(input) as tf.SymbolicTensor });
    await expect(mcScorePool({ net: { model: plain }, pool: loader, functions: ['mfe'] })).rejects.toThrow(/no MCDropout layers/);
    await expect(mcScorePool({ net: { model: plain }, pool: loader, functions: ['mfe'], mode: 'fast' })).rejects.toThrow(/mcSplit/);
    const badSplit: MCNet = { model: net.model, mcSplit: () => ({ prefix: net.model, tail: net.model }) };
    await expect(mcScorePool({ net: badSplit, pool: loader, functions: ['mfe'] })).rejects.toThrow(/prefix contains MCDropout/);
    await expect(mcScorePool({ net, pool: loader, functions: ['random'] })).rejects.toThrow(/randomSeed/);
    const before = tf.memory().numTensors;
    const wrongCount = { ids: ['x', 'y'], load: async () => testImages(['x']) };
    await expect(mcScorePool({ net, pool: wrongCount, functions: ['mfe'], samples: 1 })).rejects.toThrow(/2 ids but 1 images/);
    expect(tf.memory().numTensors).toBe(before);
    expect(mcActiveFlags(net).every((active) => !active)).toBe(true);
    // 'random' alone needs no passes, so a model without dropout is fine for it.
    const random = await mcScorePool({ net: { model: plain }, pool: loader, functions: ['random'], randomSeed: 2 });
    expect(random.map((r) => r.scores.random)).toEqual(randomScores(ids, 2));
    expect(tf.memory().numTensors).toBe(before);
    plain.dispose();
  });
});

describe('with the model zoo', () => {
  it('fast MC equals naive MC on a zoo Unet for head and decoder dropout', async () => {
    for (const strategy of ['head', 'decoder'] as const) {
      const net = buildModel({
        arch: 'Unet', encoder: 'resnet34', encoderDepth: 3, inputShape: [16, 16, 3], classes: 1,
        dropout: { strategy, rate: 0.3 }, widthScale: 0.125, seed: 1,
      });
      const [naive, fast] = [await runPool(net, 'naive', 3, 2), await runPool(net, 'fast', 3, 2)];
      for (let i = 0; i < ids.length; i++) {
        for (const fn of UNCERTAINTY_FUNCTIONS) expect(fast.results[i].scores[fn]).toBeCloseTo(naive.results[i].scores[fn], 5);
      }
      expect(fast.results[0].scores.std).toBeGreaterThan(0);
    }
  });
});
