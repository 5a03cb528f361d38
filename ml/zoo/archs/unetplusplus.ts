/**
 * smp UnetPlusPlus: nested dense skip pathways. Node x_{d,l} (d = depth index, l = layer index) upsamples
 * x_{d,l−1} (or encoder feature d for l = d) and concatenates every x_{i,l} with i > d plus encoder
 * feature l + 1, then two 3×3 conv-BN-ReLU; a final block without skip reaches full resolution.
 *
 * For VGG encoders smp's UnetPlusPlusDecoder also constructs a center block, but its forward never applies it
 * (smp 0.6.0; smp issue #345): the function has no center, so neither has this decoder. smp's parameter count
 * includes the unused block; `smpUnusedCenterParams` gives the difference.
 */
import { channelsOf, concat } from '../blocks';
import { unetBlock } from './unet';
import { unetDecoderChannels, type ArchSpec, type Sym } from './common';

export const UnetPlusPlus: ArchSpec = {
  name: 'UnetPlusPlus',
  outputStride: () => 32,
  defaultEncoderDepth: 5,
  headKernelSize: 3,
  decode(features, ctx) {
    const n = features.length - 1; // number of decoder stages
    const decoderChannels = unetDecoderChannels(ctx, n);
    const enc = features.slice(1).reverse(); // enc[0] = deepest
    const skipChannels = [...enc.slice(1).map(channelsOf), 0];
    const dense = new Map<string, Sym>();
    const key = (d: number, l: number) => `x_${d}_${l}`;
    const outChannels = (d: number, l: number) => (d === 0 ? decoderChannels[l] : skipChannels[l]);
    for (let layerIdx = 0; layerIdx < n - 1; layerIdx++) {
      for (let depthIdx = 0; depthIdx < n - 1 - layerIdx; depthIdx++) {
        const l = depthIdx + layerIdx;
        if (layerIdx === 0) {
          dense.set(key(depthIdx, l), unetBlock(ctx, enc[depthIdx], enc[depthIdx + 1], key(depthIdx, l), outChannels(depthIdx, l)));
        } else {
          const skips: Sym[] = [];
          for (let i = depthIdx + 1; i <= l; i++) skips.push(dense.get(key(i, l))!);
          skips.push(enc[l + 1]);
          const skip = concat(ctx.b, skips, `${key(depthIdx, l)}_skips`);
          dense.set(key(depthIdx, l), unetBlock(ctx, dense.get(key(depthIdx, l - 1))!, skip, key(depthIdx, l), outChannels(depthIdx, l)));
        }
      }
    }
    const last = n - 1 > 0 ? dense.get(key(0, n - 2))! : enc[0];
    return unetBlock(ctx, last, undefined, key(0, n - 1), decoderChannels[n - 1]);
  },
};

/**
 * Parameters of the center block smp's UnetPlusPlus holds for VGG encoders without using it (two 3×3 conv-BN-ReLU at
 * the deepest feature's channels, no conv bias): smp's `sum(p.numel())` = this zoo's count + this.
 */
export function smpUnusedCenterParams(deepestChannels: number): number {
  return 2 * (deepestChannels * deepestChannels * 9 + 2 * deepestChannels);
}
