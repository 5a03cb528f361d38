/**
 * Fast MC with stacked passes: one call over T tiled copies of a batch draws exactly the masks of T separate calls,
 * so grouping passes (any group size) changes nothing but the speed.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { UNCERTAINTY_FUNCTIONS } from '../../ml/acquisition';
import { initBackend } from '../../ml/backend';
import { MCDropout, setMCDropoutSeed, withMCPasses } from '../../ml/layers/mcDropout';
import { dropoutOnlyInputs, mcScorePool, passesPerTailCall } from '../../ml/mcSampling';
import { decoderDropoutNet, headDropoutNet, testImages } from './helpers/mcNets';

beforeAll(async () => {
  await initBackend('auto', () => {});
});

describe('stacked MC passes', () => {
  it('one call over T stacked copies draws the masks of T separate calls, seeded or not', () => {
    const layer = new MCDropout({ rate: 0.4, name: 'stacked', mcActive: true });
    const batch = tf.randomUniform([2, 5, 5, 3], 0.5, 1.5, 'float32', 3);
    setMCDropoutSeed(17);
    const separate = [0, 1, 2].map(() => layer.apply(batch) as tf.Tensor);
    setMCDropoutSeed(17);
    const stacked = withMCPasses(3, () => layer.apply(tf.concat([batch, batch, batch], 0)) as tf.Tensor);
    setMCDropoutSeed(undefined);
    expect(Array.from(stacked.dataSync())).toEqual(Array.from(tf.concat(separate, 0).dataSync()));
    // The passes differ from each other, and another seed gives other masks.
    expect(Array.from(separate[0].dataSync())).not.toEqual(Array.from(separate[1].dataSync()));
    setMCDropoutSeed(18);
    const other = withMCPasses(3, () => layer.apply(tf.concat([batch, batch, batch], 0)) as tf.Tensor);
    setMCDropoutSeed(undefined);
    expect(Array.from(other.dataSync())).not.toEqual(Array.from(stacked.dataSync()));
    // A batch that cannot hold the passes is refused; training draws one mask per call whatever the scope says.
    expect(() => withMCPasses(3, () => layer.apply(batch))).toThrow(/batch of 2 cannot hold 3 stacked MC passes/);
    const training = withMCPasses(3, () => layer.apply(batch, { training: true }) as tf.Tensor);
    expect(training.shape).toEqual(batch.shape);
    tf.dispose([batch, stacked, other, training, ...separate]);
  });

  it('broadcasts an input of one pass\'s rows over the passes, as if it had been tiled', () => {
    const layer = new MCDropout({ rate: 0.4, name: 'shared', mcActive: true });
    const batch = tf.randomUniform([2, 5, 5, 3], 0.5, 1.5, 'float32', 5);
    const tiledInput = tf.concat([batch, batch, batch], 0);
    setMCDropoutSeed(9);
    const tiled = withMCPasses(3, () => layer.apply(tiledInput) as tf.Tensor, { rowsPerPass: 2 });
    setMCDropoutSeed(9);
    const shared = withMCPasses(3, () => layer.apply(batch) as tf.Tensor, { rowsPerPass: 2 });
    setMCDropoutSeed(undefined);
    expect(shared.shape).toEqual([6, 5, 5, 3]);
    expect(Array.from(shared.dataSync())).toEqual(Array.from(tiled.dataSync()));
    // Without dropout (rate 0, or MC mode off) a shared input still comes out as the stacked rows.
    const noDropout = new MCDropout({ rate: 0, name: 'shared0', mcActive: true });
    const off = new MCDropout({ rate: 0.4, name: 'sharedOff' });
    for (const layer0 of [noDropout, off]) {
      const out = withMCPasses(3, () => layer0.apply(batch) as tf.Tensor, { rowsPerPass: 2 });
      expect(Array.from(out.dataSync())).toEqual(Array.from(tiledInput.dataSync()));
      out.dispose();
    }
    // Rows that are neither one pass nor all of them are refused, as is a meaningless row count.
    const four = tf.zeros([4, 5, 5, 3]);
    expect(() => withMCPasses(3, () => layer.apply(four), { rowsPerPass: 2 })).toThrow(/batch of 4 cannot hold 3 stacked MC passes/);
    expect(() => withMCPasses(3, () => 0, { rowsPerPass: 0 })).toThrow(/rowsPerPass must be a positive integer/);
    tf.dispose([batch, tiledInput, tiled, shared, four]);
  });

  it('leaves untiled only the tail inputs that dropout alone reads', () => {
    expect(dropoutOnlyInputs(headDropoutNet(1).mcSplit!().tail)).toEqual([true]);
    expect(dropoutOnlyInputs(decoderDropoutNet(3).mcSplit!().tail)).toEqual([false, false]);
  });

  it('groups as many passes as fit the value budget', () => {
    const outputs = [tf.zeros([2, 4, 4, 8]), tf.zeros([2, 2, 2, 8])];
    const perPass = 2 * 4 * 4 * 8 + 2 * 2 * 2 * 8;
    expect(passesPerTailCall(outputs, 30, perPass * 7)).toBe(7);
    expect(passesPerTailCall(outputs, 30, perPass * 7 + perPass - 1)).toBe(7);
    expect(passesPerTailCall(outputs, 5, perPass * 7)).toBe(5);
    expect(passesPerTailCall(outputs, 30, 1)).toBe(1);
    tf.dispose(outputs);
  });
});

describe.each([
  ['head dropout', () => headDropoutNet(1)],
  ['decoder dropout, two-output prefix', () => decoderDropoutNet(3)],
])('fast MC in groups of passes (%s)', (_, makeNet) => {
  const net = makeNet();
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const pool = { ids, load: async (batch: string[]) => testImages(batch) };
  const score = (mode: 'fast' | 'naive', maxStackedValues?: number) => mcScorePool({
    net, pool, mode, samples: 7, batchSize: 2, functions: [...UNCERTAINTY_FUNCTIONS], dropoutSeed: 4, maxStackedValues,
  });

  it('gives the naive scores for every group size, and leaves no tensors behind', async () => {
    const naive = await score('naive');
    const before = tf.memory().numTensors;
    const perPass = tf.tidy(() => {
      const out = net.mcSplit!().prefix.apply(testImages(ids.slice(0, 2)), { training: false }) as tf.Tensor | tf.Tensor[];
      return (Array.isArray(out) ? out : [out]).reduce((sum, t) => sum + t.size, 0);
    });
    // Groups of 1, 3 (7 = 3 + 3 + 1) and all 7 passes.
    for (const passes of [1, 3, 7]) {
      const fast = await score('fast', perPass * passes);
      fast.forEach((r, i) => {
        for (const fn of UNCERTAINTY_FUNCTIONS) expect(r.scores[fn]).toBeCloseTo(naive[i].scores[fn], 6);
      });
    }
    expect(tf.memory().numTensors).toBe(before);
    await expect(score('fast', 0)).rejects.toThrow(/maxStackedValues must be at least 1/);
  });
});
