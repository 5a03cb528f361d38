/**
 * MobileNetV2 encoder (torchvision MobileNetV2, width 1.0, classifier removed), with smp's stage split of
 * `features`: [:2], [2:4], [4:7], [7:14], [14:] — the last stage ends with the 320 → 1280 1×1 conv.
 */
import { scaled, type EncoderRegistry, type EncoderSpec } from '../encoderTypes';
import {
  add, checkDepth, convBnAct, stageDilations, strideAndDilation, type Sym,
} from './common';

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
  x: Sym, block: InvertedResidualBlock, widthScale: number, stageDilation: number, name: string,
): Sym {
  const inChannels = scaled(block.inChannels, widthScale);
  const hidden = Math.round(inChannels * block.expansion);
  let y = x;
  if (block.expansion !== 1) {
    y = convBnAct(y, { filters: hidden, kernel: 1, act: 'relu6', name: `${name}_expand` });
  }
  const { stride, dilation } = strideAndDilation(block.stride, stageDilation);
  y = convBnAct(y, { filters: hidden, kernel: 3, stride, dilation, groups: hidden, act: 'relu6', name: `${name}_dw` });
  y = convBnAct(y, { filters: scaled(block.outChannels, widthScale), kernel: 1, act: null, name: `${name}_project` });
  // torchvision decides the residual at construction, so a stride-2 block keeps none even when dilated.
  const residual = block.stride === 1 && block.inChannels === block.outChannels;
  return residual ? add([x, y], `${name}_add`) : y;
}

const mobileNetV2: EncoderSpec = {
  family: 'MobileNet',
  outChannels: [3, 16, 24, 32, 96, 1280],
  build({ input, depth, widthScale, outputStride, name }) {
    checkDepth(depth, 'MobileNetV2');
    const dilations = stageDilations(outputStride);
    const blocks = blockList();
    const features: Sym[] = [input];
    let x = convBnAct(input, {
      filters: scaled(STEM_CHANNELS, widthScale), kernel: 3, stride: 2, act: 'relu6', name: `${name}_features0`,
    });
    // features[1 + i] is blocks[i]; stage s covers features [STAGE_STARTS[s - 2], STAGE_STARTS[s - 1]).
    const stageOf = (featureIndex: number) => 1 + STAGE_STARTS.filter((start) => featureIndex >= start).length;
    for (let i = 0; i < blocks.length; i += 1) {
      const featureIndex = i + 1;
      const stage = stageOf(featureIndex);
      if (stage > depth) break;
      if (STAGE_STARTS.includes(featureIndex as (typeof STAGE_STARTS)[number])) features.push(x);
      x = invertedResidual(x, blocks[i], widthScale, dilations[stage], `${name}_features${featureIndex}`);
    }
    if (depth === 5) {
      x = convBnAct(x, { filters: scaled(LAST_CHANNELS, widthScale), kernel: 1, act: 'relu6', name: `${name}_features18` });
    }
    features.push(x);
    return features;
  },
};

export const mobileNetEncoders: EncoderRegistry = {
  mobilenet_v2: mobileNetV2,
};
