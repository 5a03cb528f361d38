/**
 * MobileNet encoders.
 * - `mobilenet_v2`: torchvision MobileNetV2 (width 1.0, classifier removed), with smp's stage split of `features`:
 *   [:2], [2:4], [4:7], [7:14], [14:] — the last stage ends with the 320 → 1280 1×1 conv.
 * - `timm-mobilenetv3_*`: timm's tf_mobilenetv3 `features_only` model (no conv_head, no classifier), split as smp's
 *   MobileNetV3Encoder does. Hard-swish / hard-sigmoid are PyTorch's; padding is TF 'same' and BN epsilon 1e-3,
 *   as in these TF-ported models.
 */
import type * as tf from '@tensorflow/tfjs';
import { LayerBuilder, add, convBnAct, squeezeExcite } from '../blocks';
import {
  checkDepth, makeDivisible, scaled, stageDilations, strideAndDilation, type EncoderRegistry, type EncoderSpec,
} from './contract';

type Sym = tf.SymbolicTensor;

/** torchvision's inverted residual settings: expansion t, output channels c, repeats n, first stride s. */
const INVERTED_RESIDUAL_SETTINGS: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];
const STEM_CHANNELS = 32;
const LAST_CHANNELS = 1280;
/** First `features` index of stages 2…5 (smp's get_stages); index 18 is the final 1×1 conv. */
const STAGE_STARTS = [2, 4, 7, 14] as const;

interface InvertedResidualBlock {
  inChannels: number;
  outChannels: number;
  expansion: number;
  stride: number;
}

function blockList(): InvertedResidualBlock[] {
  const blocks: InvertedResidualBlock[] = [];
  let inChannels = STEM_CHANNELS;
  for (const [expansion, outChannels, repeats, stride] of INVERTED_RESIDUAL_SETTINGS) {
    for (let i = 0; i < repeats; i += 1) {
      blocks.push({ inChannels, outChannels, expansion, stride: i === 0 ? stride : 1 });
      inChannels = outChannels;
    }
  }
  return blocks;
}

function invertedResidual(
  b: LayerBuilder, x: Sym, name: string, block: InvertedResidualBlock, widthScale: number, stageDilation: number,
): Sym {
  const inChannels = scaled(block.inChannels, widthScale);
  const hidden = Math.round(inChannels * block.expansion);
  let y = x;
  if (block.expansion !== 1) y = convBnAct(b, y, `${name}_expand`, { filters: hidden, kernelSize: 1, act: 'relu6' });
  const { stride, dilation } = strideAndDilation(block.stride, stageDilation);
  y = convBnAct(b, y, `${name}_dw`, { filters: hidden, kernelSize: 3, stride, dilation, groups: hidden, act: 'relu6' });
  y = convBnAct(b, y, `${name}_project`, { filters: scaled(block.outChannels, widthScale), kernelSize: 1, act: 'none' });
  // torchvision decides the residual at construction, so a stride-2 block keeps none even when dilated.
  const residual = block.stride === 1 && block.inChannels === block.outChannels;
  return residual ? add(b, [x, y], `${name}_add`) : y;
}

const mobileNetV2: EncoderSpec = {
  family: 'MobileNet',
  outChannels: [3, 16, 24, 32, 96, 1280],
  build({ input, depth, widthScale, outputStride, name }) {
    checkDepth(depth, 'MobileNetV2');
    const dilations = stageDilations(outputStride);
    const blocks = blockList();
    const b = new LayerBuilder(name, 'keras');
    const features: Sym[] = [input];
    let x = convBnAct(b, input, 'features0', { filters: scaled(STEM_CHANNELS, widthScale), kernelSize: 3, stride: 2, act: 'relu6' });
    // features[1 + i] is blocks[i]; stage s covers features [STAGE_STARTS[s - 2], STAGE_STARTS[s - 1]).
    const stageOf = (featureIndex: number) => 1 + STAGE_STARTS.filter((start) => featureIndex >= start).length;
    for (let i = 0; i < blocks.length; i += 1) {
      const featureIndex = i + 1;
      const stage = stageOf(featureIndex);
      if (stage > depth) break;
      if (STAGE_STARTS.includes(featureIndex as (typeof STAGE_STARTS)[number])) features.push(x);
      x = invertedResidual(b, x, `features${featureIndex}`, blocks[i], widthScale, dilations[stage]);
    }
    if (depth === 5) {
      x = convBnAct(b, x, 'features18', { filters: scaled(LAST_CHANNELS, widthScale), kernelSize: 1, act: 'relu6' });
    }
    features.push(x);
    return features;
  },
};


/**
 * One timm block string: 'ds' depthwise-separable, 'ir' inverted residual, 'cn' 1×1 conv-BN-act; kernel, stride,
 * expansion, output channels, SE ratio, and `relu` for the '_nre' blocks (hard-swish otherwise).
 */
interface V3Block {
  type: 'ds' | 'ir' | 'cn';
  kernel: number;
  stride: number;
  expand: number;
  out: number;
  se: number;
  relu: boolean;
}

function v3(
  type: V3Block['type'], kernel: number, stride: number, expand: number, out: number, se: number, relu: boolean,
  repeats = 1,
): V3Block[] {
  return Array.from({ length: repeats }, (_, i) => ({
    type, kernel, stride: i === 0 ? stride : 1, expand, out, se, relu,
  }));
}

/** timm's arch_def per block group (stage of the timm model). */
const V3_LARGE: V3Block[][] = [
  v3('ds', 3, 1, 1, 16, 0, true),
  [...v3('ir', 3, 2, 4, 24, 0, true), ...v3('ir', 3, 1, 3, 24, 0, true)],
  v3('ir', 5, 2, 3, 40, 0.25, true, 3),
  [...v3('ir', 3, 2, 6, 80, 0, false), ...v3('ir', 3, 1, 2.5, 80, 0, false), ...v3('ir', 3, 1, 2.3, 80, 0, false, 2)],
  v3('ir', 3, 1, 6, 112, 0.25, false, 2),
  v3('ir', 5, 2, 6, 160, 0.25, false, 3),
  v3('cn', 1, 1, 1, 960, 0, false),
];
const V3_SMALL: V3Block[][] = [
  v3('ds', 3, 2, 1, 16, 0.25, true),
  [...v3('ir', 3, 2, 4.5, 24, 0, true), ...v3('ir', 3, 1, 3.67, 24, 0, true)],
  [...v3('ir', 5, 2, 4, 40, 0.25, false), ...v3('ir', 5, 1, 6, 40, 0.25, false, 2)],
  v3('ir', 5, 1, 3, 48, 0.25, false, 2),
  v3('ir', 5, 2, 6, 96, 0.25, false, 3),
  v3('cn', 1, 1, 1, 576, 0, false),
];
/** smp's get_stages: the first block group of stages 2…5 ('large' puts blocks[0] into stage 1 with the stem). */
const V3_STAGE_STARTS = { large: [1, 2, 3, 5], small: [0, 1, 2, 4] } as const;
/** tf_mobilenetv3 is ported from TensorFlow: TF 'same' padding and TF batch-norm settings. */
const V3_TF_PORT = { bnEpsilon: 1e-3, bnMomentum: 0.99, padding: 'same' } as const;

/**
 * `previousDilation`: smp builds timm-mobilenetv3 through timm with output_stride, and timm's builder gives the block
 * whose stride it turns into dilation the dilation before it (later blocks get the new one).
 */
function v3Block(
  b: LayerBuilder, x: Sym, name: string, block: V3Block, inChannels: number, outChannels: number, stageDilation: number, previousDilation: number,
): Sym {
  const act = block.relu ? 'relu' : 'hardSwish';
  const { stride, dilation: stageDilated } = strideAndDilation(block.stride, stageDilation);
  const dilation = block.stride > 1 && stageDilation > 1 ? previousDilation : stageDilated;
  if (block.type === 'cn') return convBnAct(b, x, name, { ...V3_TF_PORT, filters: outChannels, kernelSize: 1, act });
  let y = x;
  const mid = block.type === 'ir' ? makeDivisible(inChannels * block.expand) : inChannels;
  if (block.type === 'ir') y = convBnAct(b, y, `${name}_pw`, { ...V3_TF_PORT, filters: mid, kernelSize: 1, act });
  y = convBnAct(b, y, `${name}_dw`, { ...V3_TF_PORT, filters: mid, kernelSize: block.kernel, stride, dilation, groups: mid, act });
  if (block.se > 0) y = squeezeExcite(b, y, `${name}_se`, { reducedChannels: makeDivisible(mid * block.se), gate: 'hardSigmoid' });
  y = convBnAct(b, y, `${name}_pwl`, { ...V3_TF_PORT, filters: outChannels, kernelSize: 1, act: 'none' });
  return block.stride === 1 && inChannels === outChannels ? add(b, [x, y], `${name}_add`) : y;
}

/** timm's 'minimal' variants: the same blocks with 3×3 kernels, no SE and ReLU everywhere (stem included). */
function minimal(groups: V3Block[][]): V3Block[][] {
  return groups.map((group) => group.map((block) => ({
    ...block, kernel: block.type === 'cn' ? 1 : 3, se: 0, relu: true,
  })));
}

function mobileNetV3(
  mode: 'large' | 'small', widthMultiplier: number, outChannels: readonly number[], isMinimal = false,
): EncoderSpec {
  const full = mode === 'large' ? V3_LARGE : V3_SMALL;
  const groups = isMinimal ? minimal(full) : full;
  const stageStarts = V3_STAGE_STARTS[mode];
  return {
    family: 'MobileNetV3',
    outChannels,
    build({ input, depth, widthScale, outputStride, name }) {
      checkDepth(depth, 'MobileNetV3');
      const dilations = stageDilations(outputStride);
      const width = (c: number) => scaled(makeDivisible(c * widthMultiplier), widthScale);
      const b = new LayerBuilder(name, 'keras');
      const features: Sym[] = [input];
      let x = convBnAct(b, input, 'stem', {
        ...V3_TF_PORT, filters: width(16), kernelSize: 3, stride: 2, act: isMinimal ? 'relu' : 'hardSwish',
      });
      let inChannels = width(16);
      const stageOf = (group: number) => 1 + stageStarts.filter((start) => group >= start).length;
      for (let g = 0; g < groups.length; g += 1) {
        const stage = stageOf(g);
        if (stage > depth) break;
        if ((stageStarts as readonly number[]).includes(g)) features.push(x);
        groups[g].forEach((block, index) => {
          const out = width(block.out);
          x = v3Block(b, x, `blocks${g}_${index}`, block, inChannels, out, dilations[stage], dilations[stage - 1]);
          inChannels = out;
        });
      }
      features.push(x);
      return features;
    },
  };
}

export const mobileNetEncoders: EncoderRegistry = {
  mobilenet_v2: mobileNetV2,
  'timm-mobilenetv3_large_075': mobileNetV3('large', 0.75, [3, 16, 24, 32, 88, 720]),
  'timm-mobilenetv3_large_100': mobileNetV3('large', 1.0, [3, 16, 24, 40, 112, 960]),
  'timm-mobilenetv3_large_minimal_100': mobileNetV3('large', 1.0, [3, 16, 24, 40, 112, 960], true),
  'timm-mobilenetv3_small_075': mobileNetV3('small', 0.75, [3, 16, 16, 24, 40, 432]),
  'timm-mobilenetv3_small_100': mobileNetV3('small', 1.0, [3, 16, 16, 24, 48, 576]),
  'timm-mobilenetv3_small_minimal_100': mobileNetV3('small', 1.0, [3, 16, 16, 24, 48, 576], true),
};
