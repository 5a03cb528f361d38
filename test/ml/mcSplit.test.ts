/**
 * The generic MC split (ml/zoo/mcSplit.ts): everything deterministic in the prefix, convolutions over a
 * stochastic ⊕ deterministic concatenation split in two, and the split computing exactly what the model computes —
 * deterministically and, with the same dropout seed, pass for pass in MC mode.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import { MCDropout } from '../../ml/layers/mcDropout';
import type { ArchName } from '../../ml/types';
import { buildModel } from '../../ml/zoo';
import { splitAtMCDropout } from '../../ml/zoo/mcSplit';
import { seededSplitDiffs } from './helpers/mcNets';

beforeAll(async () => {
  await initBackend();
});

const build = (arch: ArchName, strategy: 'head' | 'decoder', encoder = 'resnet18') => buildModel({
  arch, encoder, encoderDepth: 5, inputShape: [64, 64, 3], classes: 1, widthScale: 0.125, seed: 3, dropout: { strategy, rate: 0.4 },
});

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];

describe('splitAtMCDropout', () => {
  it("Unet 'decoder': the first decoder unit runs in the prefix and the skip-reading convolutions are split", () => {
    const net = build('Unet', 'decoder');
    const split = splitAtMCDropout(net.model.inputs[0], net.model.outputs[0]);
    // Block 0 reads only encoder features, so its first conv-BN-ReLU is deterministic; blocks 1–3 read a skip.
    const firstConv = net.model.layers.find((l) => l.name.startsWith('decoder') && l.name.endsWith('conv') && !l.name.includes('head'))!;
    expect(split.prefix.layers).toContain(firstConv);
    expect(split.tail.layers).not.toContain(firstConv);
    expect(split.splitConvs.length).toBe(3);
    expect(split.prefix.layers.some((l) => l instanceof MCDropout)).toBe(false);
    // The tail needs no raw encoder feature: each skip is consumed by its hoisted convolution part.
    expect(split.prefix.outputs.map((t) => t.shape[3])).toEqual([32, 16, 8, 4]);
  });

  for (const [arch, encoder] of [['Unet', 'resnet18'], ['UnetPlusPlus', 'resnet18'], ['FPN', 'resnet18'], ['MAnet', 'resnet18'], ['DeepLabV3Plus', 'timm-skresnet18']] as const) {
    it(`${arch} 'decoder': prefix → tail equals the model, outside MC mode and pass for pass in MC mode`, () => {
      const net = build(arch, 'decoder', encoder);
      const { prefix, tail } = splitAtMCDropout(net.model.inputs[0], net.model.outputs[0]);
      const x = tf.randomUniform([2, 64, 64, 3], 0, 1, 'float32', 5);
      expect(maxDiff(net.model.predict(x) as tf.Tensor, tail.predict(prefix.predict(x)) as tf.Tensor)).toBeLessThan(1e-5);
      const { same, other } = seededSplitDiffs(net.model, { prefix, tail }, x, 11, 12);
      // Same masks, same function; only float32 summation order differs (one conv over the concatenation vs two
      // partial convs added), which untrained, saturating MC passes amplify to ~1e-4 at most. Another seed: ~1.
      expect(same).toBeLessThan(5e-4);
      expect(other).toBeGreaterThan(0.1);
    });
  }

  it('follows weight updates: the split reads the model kernels at call time', () => {
    const net = build('Unet', 'decoder');
    const { prefix, tail, splitConvs } = splitAtMCDropout(net.model.inputs[0], net.model.outputs[0]);
    const x = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 6);
    const before = tail.predict(prefix.predict(x)) as tf.Tensor;
    for (const name of splitConvs) {
      const kernel = net.model.getLayer(name).trainableWeights[0];
      kernel.write(tf.neg(kernel.read()));
    }
    const after = tail.predict(prefix.predict(x)) as tf.Tensor;
    expect(maxDiff(before, after)).toBeGreaterThan(1e-3);
    expect(maxDiff(net.model.predict(x) as tf.Tensor, after)).toBeLessThan(1e-4);
  });

  it('refuses a model without MCDropout', () => {
    const net = buildModel({ arch: 'Unet', encoder: 'resnet18', encoderDepth: 5, inputShape: [64, 64, 3], classes: 1, widthScale: 0.125, dropout: { strategy: 'none', rate: 0 } });
    expect(() => splitAtMCDropout(net.model.inputs[0], net.model.outputs[0])).toThrow(/no MCDropout/);
  });
});
