/**
 * RegNetX / RegNetY encoders (timm's RegNet with the configs smp registers as `timm-regnet*`; head removed).
 * Features: stem (3×3 s2 conv → BN → ReLU, 32 channels), then stages s1…s4. Per-stage widths come from timm's
 * `generate_regnet` + `adjust_widths_groups_comp` (bottleneck ratio 1). A block is 1×1 → grouped 3×3 (stride) →
 * [SE] → 1×1, with a 1×1 conv + BN shortcut when the shape changes, then ReLU after the sum. RegNetY's SE reduces
 * to round(0.25 × block input channels), as timm does (not the bottleneck width).
 */
import type * as tf from '@tensorflow/tfjs';
import { LayerBuilder, activation, add, convBnAct, squeezeExcite } from '../blocks';
import {
  checkDepth, greatestCommonDivisor, roundHalfEven, scaled, stageDilations, strideAndDilation, type EncoderRegistry,
  type EncoderSpec,
} from './contract';

type Sym = tf.SymbolicTensor;

interface RegNetConfig {
  w0: number;
  wa: number;
  wm: number;
  groupWidth: number;
  depth: number;
  seRatio: number;
}

const STEM_WIDTH = 32;
const WIDTH_QUANTUM = 8;

interface RegStage {
  width: number;
  blocks: number;
  groupWidth: number;
}

/** timm's generate_regnet + np.unique + adjust_widths_groups_comp, with numpy's round-half-even. */
export function regNetStages(cfg: RegNetConfig): RegStage[] {
  const widths: number[] = [];
  for (let i = 0; i < cfg.depth; i += 1) {
    const continuous = i * cfg.wa + cfg.w0;
    const exponent = roundHalfEven(Math.log(continuous / cfg.w0) / Math.log(cfg.wm));
    widths.push(roundHalfEven((cfg.w0 * cfg.wm ** exponent) / WIDTH_QUANTUM) * WIDTH_QUANTUM);
  }
  const unique = [...new Set(widths)].sort((a, b) => a - b);
  return unique.map((width) => {
    const groupWidth = Math.min(cfg.groupWidth, width);
    return {
      width: roundHalfEven(width / groupWidth) * groupWidth,
      blocks: widths.filter((w) => w === width).length,
      groupWidth,
    };
  });
}

interface BlockShape {
  inChannels: number;
  outChannels: number;
  groups: number;
  stride: number;
  stageDilation: number;
  /** timm builds smp's timm-regnet with output_stride: a dilated stage's first 3×3 keeps the previous stage's dilation. */
  conv2Dilation: number;
  seRatio: number;
}

function bottleneck(b: LayerBuilder, x: Sym, name: string, s: BlockShape): Sym {
  const { stride } = strideAndDilation(s.stride, s.stageDilation);
  let y = convBnAct(b, x, `${name}_conv1`, { filters: s.outChannels, kernelSize: 1 });
  y = convBnAct(b, y, `${name}_conv2`, { filters: s.outChannels, kernelSize: 3, stride, dilation: s.conv2Dilation, groups: s.groups });
  if (s.seRatio > 0) {
    y = squeezeExcite(b, y, `${name}_se`, { reducedChannels: Math.max(1, roundHalfEven(s.inChannels * s.seRatio)) });
  }
  y = convBnAct(b, y, `${name}_conv3`, { filters: s.outChannels, kernelSize: 1, act: 'none' });
  const shortcut = s.inChannels !== s.outChannels || s.stride !== 1
    ? convBnAct(b, x, `${name}_downsample`, { filters: s.outChannels, kernelSize: 1, stride, act: 'none' })
    : x;
  return activation(b, add(b, [y, shortcut], `${name}_add`), `${name}_relu`, 'relu');
}

function regNet(cfg: RegNetConfig, outChannels: readonly number[]): EncoderSpec {
  return {
    family: cfg.seRatio > 0 ? 'RegNetY' : 'RegNetX',
    outChannels,
    build({ input, depth, widthScale, outputStride, name }) {
      checkDepth(depth, 'RegNet');
      const stages = regNetStages(cfg);
      const derived = [STEM_WIDTH, ...stages.map((s) => s.width)];
      if (stages.length !== 4 || derived.some((w, i) => w !== outChannels[i + 1])) {
        throw new Error(`RegNet config ${JSON.stringify(cfg)} yields widths ${derived}, not smp's ${outChannels}.`);
      }
      const dilations = stageDilations(outputStride);
      const b = new LayerBuilder(name, 'keras');
      const features: Sym[] = [input];
      let x = convBnAct(b, input, 'stem', { filters: scaled(STEM_WIDTH, widthScale), kernelSize: 3, stride: 2 });
      features.push(x);
      let inChannels = scaled(STEM_WIDTH, widthScale);
      for (let stage = 2; stage <= depth; stage += 1) {
        const { width, blocks, groupWidth } = stages[stage - 2];
        const outChannels = scaled(width, widthScale);
        const groups = greatestCommonDivisor(outChannels, width / groupWidth);
        for (let block = 0; block < blocks; block += 1) {
          x = bottleneck(b, x, `s${stage - 1}_b${block + 1}`, {
            inChannels, outChannels, groups, stride: block === 0 ? 2 : 1, stageDilation: dilations[stage],
            conv2Dilation: block === 0 ? dilations[stage - 1] : dilations[stage],
            seRatio: cfg.seRatio,
          });
          inChannels = outChannels;
        }
        features.push(x);
      }
      return features;
    },
  };
}

const X = 0;
const Y = 0.25;
/** smp's timm_regnet_encoders: [w0, wa, wm, group width, depth], out_channels; X and Y differ in SE and configs. */
const CONFIGS: Record<string, [number, number, number, number, number, number, readonly number[]]> = {
  'timm-regnetx_002': [24, 36.44, 2.49, 8, 13, X, [3, 32, 24, 56, 152, 368]],
  'timm-regnetx_004': [24, 24.48, 2.54, 16, 22, X, [3, 32, 32, 64, 160, 384]],
  'timm-regnetx_006': [48, 36.97, 2.24, 24, 16, X, [3, 32, 48, 96, 240, 528]],
  'timm-regnetx_008': [56, 35.73, 2.28, 16, 16, X, [3, 32, 64, 128, 288, 672]],
  'timm-regnetx_016': [80, 34.01, 2.25, 24, 18, X, [3, 32, 72, 168, 408, 912]],
  'timm-regnetx_032': [88, 26.31, 2.25, 48, 25, X, [3, 32, 96, 192, 432, 1008]],
  'timm-regnetx_040': [96, 38.65, 2.43, 40, 23, X, [3, 32, 80, 240, 560, 1360]],
  'timm-regnetx_064': [184, 60.83, 2.07, 56, 17, X, [3, 32, 168, 392, 784, 1624]],
  'timm-regnetx_080': [80, 49.56, 2.88, 120, 23, X, [3, 32, 80, 240, 720, 1920]],
  'timm-regnetx_120': [168, 73.36, 2.37, 112, 19, X, [3, 32, 224, 448, 896, 2240]],
  'timm-regnetx_160': [216, 55.59, 2.1, 128, 22, X, [3, 32, 256, 512, 896, 2048]],
  'timm-regnetx_320': [320, 69.86, 2.0, 168, 23, X, [3, 32, 336, 672, 1344, 2520]],
  'timm-regnety_002': [24, 36.44, 2.49, 8, 13, Y, [3, 32, 24, 56, 152, 368]],
  'timm-regnety_004': [48, 27.89, 2.09, 8, 16, Y, [3, 32, 48, 104, 208, 440]],
  'timm-regnety_006': [48, 32.54, 2.32, 16, 15, Y, [3, 32, 48, 112, 256, 608]],
  'timm-regnety_008': [56, 38.84, 2.4, 16, 14, Y, [3, 32, 64, 128, 320, 768]],
  'timm-regnety_016': [48, 20.71, 2.65, 24, 27, Y, [3, 32, 48, 120, 336, 888]],
  'timm-regnety_032': [80, 42.63, 2.66, 24, 21, Y, [3, 32, 72, 216, 576, 1512]],
  'timm-regnety_040': [96, 31.41, 2.24, 64, 22, Y, [3, 32, 128, 192, 512, 1088]],
  'timm-regnety_064': [112, 33.22, 2.27, 72, 25, Y, [3, 32, 144, 288, 576, 1296]],
  'timm-regnety_080': [192, 76.82, 2.19, 56, 17, Y, [3, 32, 168, 448, 896, 2016]],
  'timm-regnety_120': [168, 73.36, 2.37, 112, 19, Y, [3, 32, 224, 448, 896, 2240]],
  'timm-regnety_160': [200, 106.23, 2.48, 112, 18, Y, [3, 32, 224, 448, 1232, 3024]],
  'timm-regnety_320': [232, 115.89, 2.53, 232, 20, Y, [3, 32, 232, 696, 1392, 3712]],
};

export const regNetEncoders: EncoderRegistry = Object.fromEntries(
  Object.entries(CONFIGS).map(([encoderName, [w0, wa, wm, groupWidth, depth, seRatio, out]]) => [
    encoderName, regNet({ w0, wa, wm, groupWidth, depth, seRatio }, out),
  ]),
);
