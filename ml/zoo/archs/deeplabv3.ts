/**
 * smp DeepLabV3 and DeepLabV3Plus.
 * V3: encoder dilated to output stride 8; ASPP (1×1, three 3×3 atrous convs at rates 12/24/36, image
 * pooling; each conv-BN-ReLU to 256), 1×1 projection + dropout 0.5 (training only), 3×3 conv-BN-ReLU; 1×1 head.
 * V3+: output stride 16; ASPP with depthwise-separable atrous convs, separable 3×3; upsampled (bilinear,
 * align corners) to the stride-4 feature, concatenated with its 1×1 projection to 48 channels, separable
 * 3×3 conv-BN-ReLU; 1×1 head upsampled ×4.
 */
import * as tf from '@tensorflow/tfjs';
import { adaptiveAvgPool, channelsOf, concat, conv2d, resizeBilinear, spatialSize } from '../blocks';
import type { ArchSpec, DecoderContext, Sym } from './common';

const ATROUS_RATES = [12, 24, 36];

/** smp SeparableConv2d (depthwise k×k, pointwise 1×1, both without bias) → BN → ReLU. */
function separableUnit(ctx: DecoderContext, x: Sym, name: string, filters: number, dilation = 1): Sym {
  const depthwise = conv2d(ctx.b, x, `${name}_depthwise`, { filters: channelsOf(x), kernelSize: 3, dilation, groups: channelsOf(x) });
  return ctx.convUnit(depthwise, name, { filters, kernelSize: 1 });
}

function aspp(ctx: DecoderContext, x: Sym, channels: number, separable: boolean): Sym {
  const { b } = ctx;
  const size = spatialSize(x);
  const branches = [ctx.convUnit(x, 'aspp0', { filters: channels, kernelSize: 1 })];
  ATROUS_RATES.forEach((rate, i) => {
    branches.push(
      separable
        ? separableUnit(ctx, x, `aspp${i + 1}`, channels, rate)
        : ctx.convUnit(x, `aspp${i + 1}`, { filters: channels, kernelSize: 3, dilation: rate }),
    );
  });
  const pooled = ctx.convUnit(adaptiveAvgPool(b, x, 'aspp_pool', 1), 'aspp_pooling', { filters: channels, kernelSize: 1 });
  branches.push(resizeBilinear(b, pooled, 'aspp_pooling_up', size, false));
  const projected = ctx.convUnit(concat(b, branches, 'aspp_cat'), 'aspp_project', { filters: channels, kernelSize: 1 });
  return b.apply('aspp_dropout', (full) => tf.layers.dropout({ name: full, rate: 0.5 }), projected);
}

export const DeepLabV3: ArchSpec = {
  name: 'DeepLabV3',
  outputStride: () => 8,
  defaultEncoderDepth: 5,
  headKernelSize: 1,
  decode(features, ctx) {
    const channels = ctx.ch(256);
    const y = aspp(ctx, features[features.length - 1], channels, false);
    return ctx.convUnit(y, 'conv', { filters: channels, kernelSize: 3 });
  },
};

export const DeepLabV3Plus: ArchSpec = {
  name: 'DeepLabV3Plus',
  outputStride: () => 16,
  defaultEncoderDepth: 5,
  headKernelSize: 1,
  decode(features, ctx) {
    const { b } = ctx;
    const channels = ctx.ch(256);
    let y = aspp(ctx, features[features.length - 1], channels, true);
    y = separableUnit(ctx, y, 'aspp_separable', channels);
    const highRes = features[features.length - 4];
    y = resizeBilinear(b, y, 'up', spatialSize(highRes), true);
    const projected = ctx.convUnit(highRes, 'block1', { filters: ctx.ch(48), kernelSize: 1 });
    return separableUnit(ctx, concat(b, [y, projected], 'cat'), 'block2', channels);
  },
};
