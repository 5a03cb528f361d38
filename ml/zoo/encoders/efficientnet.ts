/**
 * EfficientNet-B0…B7 encoders, lukemelas' EfficientNet-PyTorch as wrapped by smp's EfficientNetEncoder.
 * Feature 1 is the stem (conv → BN → swish); features 2–5 end before block stageEnds[0…3] (smp's stage_idxs).
 * TF 'same' padding and BN epsilon 1e-3 / momentum 0.99 as in lukemelas' TF port; SE squeezes to
 * max(1, int(block input × 0.25)) channels.
 *
 * smp deletes only `_fc`, so its PyTorch module still holds `_conv_head` + `_bn1` although `forward` never uses
 * them; this encoder builds only what `forward` uses. `efficientNetUnusedHeadParams` gives the difference, for
 * reports that want smp's `sum(p.numel())` figure.
 */
import type * as tf from '@tensorflow/tfjs';
import { LayerBuilder, add, convBnAct, squeezeExcite } from '../blocks';
import {
  checkDepth, makeDivisible, scaled, stageDilations, strideAndDilation, type EncoderRegistry, type EncoderSpec,
} from './contract';

type Sym = tf.SymbolicTensor;

/** lukemelas' base block strings: repeats, kernel, stride, expansion, input and output filters; se 0.25. */
interface BaseBlock {
  repeats: number;
  kernel: number;
  stride: number;
  expand: number;
  in: number;
  out: number;
}

const BASE_BLOCKS: readonly BaseBlock[] = [
  { repeats: 1, kernel: 3, stride: 1, expand: 1, in: 32, out: 16 },
  { repeats: 2, kernel: 3, stride: 2, expand: 6, in: 16, out: 24 },
  { repeats: 2, kernel: 5, stride: 2, expand: 6, in: 24, out: 40 },
  { repeats: 3, kernel: 3, stride: 2, expand: 6, in: 40, out: 80 },
  { repeats: 3, kernel: 5, stride: 1, expand: 6, in: 80, out: 112 },
  { repeats: 4, kernel: 5, stride: 2, expand: 6, in: 112, out: 192 },
  { repeats: 1, kernel: 3, stride: 1, expand: 6, in: 192, out: 320 },
];
const SE_RATIO = 0.25;
/** lukemelas ports TensorFlow's EfficientNet: TF 'same' padding and TF batch-norm settings. */
const TF_PORT = { bnEpsilon: 1e-3, bnMomentum: 0.99, padding: 'same' } as const;

/** lukemelas' round_filters: scale by the width coefficient, round to a multiple of 8, never below 90 % (timm's rule). */
function roundFilters(filters: number, widthCoefficient: number): number {
  return makeDivisible(filters * widthCoefficient, 8);
}

interface MBConvBlock {
  inChannels: number;
  outChannels: number;
  expand: number;
  kernel: number;
  stride: number;
}

function blockList(widthCoefficient: number, depthCoefficient: number): MBConvBlock[] {
  const blocks: MBConvBlock[] = [];
  for (const base of BASE_BLOCKS) {
    const inChannels = roundFilters(base.in, widthCoefficient);
    const outChannels = roundFilters(base.out, widthCoefficient);
    const repeats = Math.ceil(depthCoefficient * base.repeats);
    for (let i = 0; i < repeats; i += 1) {
      blocks.push({
        inChannels: i === 0 ? inChannels : outChannels, outChannels, expand: base.expand, kernel: base.kernel,
        stride: i === 0 ? base.stride : 1,
      });
    }
  }
  return blocks;
}

function mbConv(b: LayerBuilder, x: Sym, name: string, block: MBConvBlock, widthScale: number, stageDilation: number): Sym {
  const inChannels = scaled(block.inChannels, widthScale);
  const expanded = inChannels * block.expand;
  let y = x;
  if (block.expand !== 1) {
    y = convBnAct(b, y, `${name}_expand`, { ...TF_PORT, filters: expanded, kernelSize: 1, act: 'swish' });
  }
  const { stride, dilation } = strideAndDilation(block.stride, stageDilation);
  y = convBnAct(b, y, `${name}_depthwise`, {
    ...TF_PORT, filters: expanded, kernelSize: block.kernel, stride, dilation, groups: expanded, act: 'swish',
  });
  y = squeezeExcite(b, y, `${name}_se`, { reducedChannels: Math.max(1, Math.floor(inChannels * SE_RATIO)), act: 'swish' });
  y = convBnAct(b, y, `${name}_project`, { ...TF_PORT, filters: scaled(block.outChannels, widthScale), kernelSize: 1, act: 'none' });
  // The skip is decided from the block's configured stride, which smp's dilation leaves untouched.
  const skip = block.stride === 1 && block.inChannels === block.outChannels;
  return skip ? add(b, [x, y], `${name}_add`) : y;
}

function efficientNet(
  widthCoefficient: number, depthCoefficient: number, stageEnds: readonly number[], outChannels: readonly number[],
): EncoderSpec {
  return {
    family: 'EfficientNet',
    outChannels,
    build({ input, depth, widthScale, outputStride, name }) {
      checkDepth(depth, 'EfficientNet');
      const dilations = stageDilations(outputStride);
      const blocks = blockList(widthCoefficient, depthCoefficient);
      if (blocks.length !== stageEnds[3]) {
        throw new Error(`EfficientNet block count ${blocks.length} disagrees with smp's stage index ${stageEnds[3]}.`);
      }
      const b = new LayerBuilder(name, 'keras');
      const features: Sym[] = [input];
      let x = convBnAct(b, input, 'stem', {
        ...TF_PORT, filters: scaled(roundFilters(32, widthCoefficient), widthScale), kernelSize: 3, stride: 2, act: 'swish',
      });
      features.push(x);
      let blockIndex = 0;
      for (let stage = 2; stage <= depth; stage += 1) {
        for (; blockIndex < stageEnds[stage - 2]; blockIndex += 1) {
          x = mbConv(b, x, `block${blockIndex}`, blocks[blockIndex], widthScale, dilations[stage]);
        }
        features.push(x);
      }
      return features;
    },
  };
}

/** Parameters of lukemelas' `_conv_head` (1×1, no bias) + `_bn1`, held by smp's module but unused by `forward`. */
function unusedHeadParams(widthCoefficient: number): number {
  const last = roundFilters(320, widthCoefficient);
  const head = roundFilters(1280, widthCoefficient);
  return last * head + 2 * head;
}

/** [width coefficient, depth coefficient, smp stage_idxs, smp out_channels] per lukemelas' efficientnet_params. */
const VARIANTS: Record<string, [number, number, readonly number[], readonly number[]]> = {
  'efficientnet-b0': [1.0, 1.0, [3, 5, 9, 16], [3, 32, 24, 40, 112, 320]],
  'efficientnet-b1': [1.0, 1.1, [5, 8, 16, 23], [3, 32, 24, 40, 112, 320]],
  'efficientnet-b2': [1.1, 1.2, [5, 8, 16, 23], [3, 32, 24, 48, 120, 352]],
  'efficientnet-b3': [1.2, 1.4, [5, 8, 18, 26], [3, 40, 32, 48, 136, 384]],
  'efficientnet-b4': [1.4, 1.8, [6, 10, 22, 32], [3, 48, 32, 56, 160, 448]],
  'efficientnet-b5': [1.6, 2.2, [8, 13, 27, 39], [3, 48, 40, 64, 176, 512]],
  'efficientnet-b6': [1.8, 2.6, [9, 15, 31, 45], [3, 56, 40, 72, 200, 576]],
  'efficientnet-b7': [2.0, 3.1, [11, 18, 38, 55], [3, 64, 48, 80, 224, 640]],
};

export const efficientNetEncoders: EncoderRegistry = Object.fromEntries(
  Object.entries(VARIANTS).map(([encoderName, [w, d, ends, out]]) => [encoderName, efficientNet(w, d, ends, out)]),
);

export const efficientNetUnusedHeadParams: Record<string, number> = Object.fromEntries(
  Object.entries(VARIANTS).map(([encoderName, [w]]) => [encoderName, unusedHeadParams(w)]),
);
