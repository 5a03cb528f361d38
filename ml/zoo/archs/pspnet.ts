/**
 * smp PSPNet: pyramid pooling on the deepest feature — adaptive average pools of 1, 2, 3, 6 bins, each a
 * 1×1 conv-BN-ReLU to C/4 (the 1-bin branch has a biased conv and no BN, as in smp), bilinearly upsampled
 * (align corners) and concatenated with the input; 1×1 conv-BN-ReLU to 512; spatial dropout 0.2 (training
 * only); 3×3 head upsampled to the input. smp's default encoder depth is 3 (`defaultEncoderDepth`).
 */
import * as tf from '@tensorflow/tfjs';
import { adaptiveAvgPool, channelsOf, concat, resizeBilinear, spatialSize } from '../blocks';
import type { ArchSpec } from './common';

const POOL_SIZES = [1, 2, 3, 6];

export const PSPNet: ArchSpec = {
  name: 'PSPNet',
  outputStride: () => 32,
  defaultEncoderDepth: 3,
  headKernelSize: 3,
  decode(features, ctx) {
    const { b } = ctx;
    const x = features[features.length - 1];
    const size = spatialSize(x);
    const branchChannels = Math.floor(channelsOf(x) / POOL_SIZES.length);
    const branches = POOL_SIZES.map((bins) => {
      const pooled = adaptiveAvgPool(b, x, `psp${bins}_pool`, bins);
      const conv = ctx.convUnit(pooled, `psp${bins}`, { filters: branchChannels, kernelSize: 1, norm: bins === 1 ? 'none' : 'bn' });
      return resizeBilinear(b, conv, `psp${bins}_up`, size, true);
    });
    const merged = concat(b, [...branches, x], 'psp_cat');
    const y = ctx.convUnit(merged, 'conv', { filters: ctx.ch(512), kernelSize: 1 });
    return b.apply('dropout', (full) => tf.layers.dropout({ name: full, rate: 0.2, noiseShape: [null, 1, 1, channelsOf(y)] as number[] }), y);
  },
};
