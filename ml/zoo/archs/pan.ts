/**
 * smp PAN (Pyramid Attention Network): encoder dilated to output stride 16; a Feature Pyramid Attention
 * block on the deepest feature and Global Attention Upsample blocks down to stride 4; decoder channels 32;
 * 3×3 head upsampled ×4. PAN's ConvBnRelu keeps the conv bias before BN, as smp does. Depth 3–5 follows
 * smp's current decoder (features from stride 4 on).
 */
import { activation, add, adaptiveAvgPool, convBnAct, maxPool, multiply, resizeBilinear, spatialSize } from '../blocks';
import type { ArchSpec, DecoderContext, Sym } from './common';

/** PAN's ConvBnRelu: biased conv → BN → (ReLU). */
function cbr(ctx: DecoderContext, x: Sym, name: string, filters: number, kernelSize: number, relu = true, dropout = true): Sym {
  const y = convBnAct(ctx.b, x, name, { filters, kernelSize, bias: true, act: relu ? 'relu' : 'none' });
  return dropout ? ctx.drop(y, name) : y;
}

function featurePyramidAttention(ctx: DecoderContext, x: Sym, channels: number): Sym {
  const { b } = ctx;
  const [h, w] = spatialSize(x);
  const branch1 = resizeBilinear(b, cbr(ctx, adaptiveAvgPool(b, x, 'fpa_branch1_pool', 1), 'fpa_branch1', channels, 1), 'fpa_branch1_up', [h, w]);
  const mid = cbr(ctx, x, 'fpa_mid', channels, 1);
  const x1 = cbr(ctx, maxPool(b, x, 'fpa_down1_pool', { poolSize: 2, stride: 2 }), 'fpa_down1', 1, 7);
  const x2 = cbr(ctx, maxPool(b, x1, 'fpa_down2_pool', { poolSize: 2, stride: 2 }), 'fpa_down2', 1, 5);
  let x3 = cbr(ctx, maxPool(b, x2, 'fpa_down3_pool', { poolSize: 2, stride: 2 }), 'fpa_down3_0', 1, 3);
  x3 = cbr(ctx, x3, 'fpa_down3_1', 1, 3);
  x3 = resizeBilinear(b, x3, 'fpa_down3_up', [Math.floor(h / 4), Math.floor(w / 4)]);
  let y = add(b, [cbr(ctx, x2, 'fpa_conv2', 1, 5), x3], 'fpa_add2');
  y = resizeBilinear(b, y, 'fpa_add2_up', [Math.floor(h / 2), Math.floor(w / 2)]);
  y = add(b, [y, cbr(ctx, x1, 'fpa_conv1', 1, 7)], 'fpa_add1');
  y = resizeBilinear(b, y, 'fpa_add1_up', [h, w]);
  return add(b, [multiply(b, [y, mid], 'fpa_mul'), branch1], 'fpa_out');
}

/** GAU: the high-level map, upsampled, plus the low-level map's 3×3 CBR gated by the high-level context. */
function globalAttentionUpsample(ctx: DecoderContext, low: Sym, high: Sym, name: string, channels: number): Sym {
  const { b } = ctx;
  const highUp = resizeBilinear(b, high, `${name}_up`, spatialSize(low));
  const lowConv = cbr(ctx, low, `${name}_conv2`, channels, 3);
  let gate = cbr(ctx, adaptiveAvgPool(b, high, `${name}_pool`, 1), `${name}_conv1`, channels, 1, false, false);
  gate = activation(b, gate, `${name}_sigmoid`, 'sigmoid');
  return add(b, [highUp, multiply(b, [lowConv, gate], `${name}_mul`)], `${name}_out`);
}

export const PAN: ArchSpec = {
  name: 'PAN',
  outputStride: () => 16,
  defaultEncoderDepth: 5,
  headKernelSize: 3,
  validate([h, w], depth) {
    const deepest = Math.min(2 ** depth, 16);
    if ((h / deepest) % 8 !== 0 || (w / deepest) % 8 !== 0) {
      return `PAN's pyramid attention pools the stride-${deepest} feature three times: input H and W must be multiples of ${deepest * 8}.`;
    }
    return undefined;
  },
  decode(features, ctx) {
    const channels = ctx.ch(32);
    const used = features.slice(2); // strides 4, 8, …
    let x = featurePyramidAttention(ctx, used[used.length - 1], channels);
    for (let i = used.length - 2; i >= 0; i--) x = globalAttentionUpsample(ctx, used[i], x, `gau${i + 1}`, channels);
    return x;
  },
};
