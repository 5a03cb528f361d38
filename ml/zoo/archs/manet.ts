/**
 * smp MAnet (multi-scale attention net): a Position-wise Attention Block on the deepest feature, then
 * Multi-scale Fusion Attention Blocks (two SE gates, on the upsampled high-level map and on the skip)
 * wherever a skip exists, and a plain Unet block for the last stage; decoder channels (256, …, 16); head 3×3.
 */
import { PositionAttention } from '../../layers';
import { activation, add, adaptiveAvgPool, channelsOf, concat, conv2d, multiply, upsampleNearest } from '../blocks';
import { unetBlock } from './unet';
import { unetDecoderChannels, type ArchSpec, type DecoderContext, type Sym } from './common';

function positionAttentionBlock(ctx: DecoderContext, x: Sym, pabChannels: number): Sym {
  const { b } = ctx;
  const channels = channelsOf(x);
  const top = conv2d(b, x, 'pab_top', { filters: pabChannels, kernelSize: 1, bias: true });
  const centre = conv2d(b, x, 'pab_center', { filters: pabChannels, kernelSize: 1, bias: true });
  const bottom = conv2d(b, x, 'pab_bottom', { filters: channels, kernelSize: 3, bias: true });
  const attended = b.apply('pab_attention', (full) => new PositionAttention({ name: full }), [top, centre, bottom]);
  const y = conv2d(b, add(b, [x, attended], 'pab_add'), 'pab_out', { filters: channels, kernelSize: 3, bias: true });
  return ctx.drop(y, 'pab_out');
}

/** MFAB's SE gate: pool → 1×1 (bias) → ReLU → 1×1 (bias) → sigmoid. */
function seGate(ctx: DecoderContext, x: Sym, name: string, reduced: number): Sym {
  const { b } = ctx;
  let s = adaptiveAvgPool(b, x, `${name}_pool`, 1);
  s = activation(b, conv2d(b, s, `${name}_fc1`, { filters: reduced, kernelSize: 1, bias: true }), `${name}_relu`, 'relu');
  s = conv2d(b, s, `${name}_fc2`, { filters: channelsOf(x), kernelSize: 1, bias: true });
  return activation(b, s, `${name}_sigmoid`, 'sigmoid');
}

function fusionAttentionBlock(ctx: DecoderContext, x: Sym, skip: Sym, name: string, outChannels: number): Sym {
  const { b } = ctx;
  const inChannels = channelsOf(x);
  const skipChannels = channelsOf(skip);
  const reduced = Math.max(1, Math.floor(skipChannels / 16));
  let y = ctx.convUnit(x, `${name}_hl0`, { filters: inChannels, kernelSize: 3 });
  y = ctx.convUnit(y, `${name}_hl1`, { filters: skipChannels, kernelSize: 1 });
  y = upsampleNearest(b, y, `${name}_up`, 2);
  const attention = add(b, [seGate(ctx, y, `${name}_se_hl`, reduced), seGate(ctx, skip, `${name}_se_ll`, reduced)], `${name}_attention`);
  y = concat(b, [multiply(b, [y, attention], `${name}_gated`), skip], `${name}_cat`);
  y = ctx.convUnit(y, `${name}_conv1`, { filters: outChannels, kernelSize: 3 });
  return ctx.convUnit(y, `${name}_conv2`, { filters: outChannels, kernelSize: 3 });
}

export const MAnet: ArchSpec = {
  name: 'MAnet',
  outputStride: () => 32,
  defaultEncoderDepth: 5,
  headKernelSize: 3,
  decode(features, ctx) {
    const depth = features.length - 1;
    const channels = unetDecoderChannels(ctx, depth);
    const reversed = features.slice(1).reverse();
    let x = positionAttentionBlock(ctx, reversed[0], ctx.ch(64));
    for (let i = 0; i < depth; i++) {
      const skip = reversed[i + 1];
      x = skip ? fusionAttentionBlock(ctx, x, skip, `block${i}`, channels[i]) : unetBlock(ctx, x, undefined, `block${i}`, channels[i]);
    }
    return x;
  },
};
