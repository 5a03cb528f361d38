/**
 * smp FPN: lateral 1×1 convs (with bias) build a top-down pyramid of 256 channels (nearest ×2 + add); each
 * level goes through 3×3 conv-GroupNorm(32)-ReLU blocks, upsampled (bilinear, align corners) to the finest
 * level; the levels are added, spatial dropout 0.2 (training only) and a 1×1 head upsamples to the input.
 * At depth 5 the pyramid is smp's (strides 4–32); at depth 3–4 it uses the deepest min(4, depth) features.
 */
import * as tf from '@tensorflow/tfjs';
import { add, conv2d, resizeBilinear, spatialSize, upsampleNearest } from '../blocks';
import { groupNormGroups, type ArchSpec, type DecoderContext, type Sym } from './common';

function segmentationBlock(ctx: DecoderContext, x: Sym, name: string, channels: number, upsamples: number): Sym {
  let y = x;
  for (let i = 0; i < Math.max(1, upsamples); i++) {
    y = ctx.convUnit(y, `${name}_${i}`, { filters: channels, kernelSize: 3, norm: 'gn', normGroups: groupNormGroups(channels) });
    if (upsamples > 0) {
      const [h, w] = spatialSize(y);
      y = resizeBilinear(ctx.b, y, `${name}_${i}_up`, [2 * h, 2 * w], true);
    }
  }
  return y;
}

export const FPN: ArchSpec = {
  name: 'FPN',
  outputStride: () => 32,
  defaultEncoderDepth: 5,
  headKernelSize: 1,
  decode(features, ctx) {
    const { b } = ctx;
    const pyramidChannels = ctx.ch(256);
    const segmentationChannels = ctx.ch(128);
    const levels = features.slice(1).slice(-4).reverse(); // coarsest first: c5, c4, c3, c2
    let p = conv2d(b, levels[0], 'p5', { filters: pyramidChannels, kernelSize: 1, bias: true });
    p = ctx.drop(p, 'p5');
    const pyramid = [p];
    for (let i = 1; i < levels.length; i++) {
      const name = `p${5 - i}`;
      const up = upsampleNearest(b, p, `${name}_up`, 2);
      const lateral = ctx.drop(conv2d(b, levels[i], `${name}_skip`, { filters: pyramidChannels, kernelSize: 1, bias: true }), `${name}_skip`);
      p = add(b, [up, lateral], `${name}_add`);
      pyramid.push(p);
    }
    const segments = pyramid.map((level, i) =>
      segmentationBlock(ctx, level, `seg${i}`, segmentationChannels, pyramid.length - 1 - i),
    );
    const merged = segments.length > 1 ? add(b, segments, 'merge') : segments[0];
    return b.apply('dropout', (full) => tf.layers.dropout({ name: full, rate: 0.2, noiseShape: [null, 1, 1, segmentationChannels] as number[] }), merged);
  },
};
