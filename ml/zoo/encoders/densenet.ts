/**
 * DenseNet encoders (torchvision DenseNet as wrapped by smp's DenseNetEncoder, classifier removed).
 * smp's stage split: feature 1 = relu(norm0(conv0)); features 2–4 = the transition's BN+ReLU output (taken before its
 * 1×1 conv and average pool); feature 5 = norm5 of the last dense block, without ReLU.
 */
import { scaled, type EncoderRegistry, type EncoderSpec } from '../encoderTypes';
import {
  activation, avgPool, batchNorm, channelsOf, checkDepth, concat, conv, maxPool, rejectDilation, type Sym,
} from './common';

interface DenseNetParams {
  initFeatures: number;
  growthRate: number;
  blocks: readonly [number, number, number, number];
  outChannels: readonly number[];
}

/** torchvision's bn_size: the 1×1 bottleneck of each dense layer has bnSize × growthRate channels. */
const BN_SIZE = 4;

function denseLayer(x: Sym, growth: number, bottleneck: number, name: string): Sym {
  let y = activation(batchNorm(x, `${name}_norm1`), 'relu', `${name}_relu1`);
  y = conv(y, { filters: bottleneck, kernel: 1, name: `${name}_conv1` });
  y = activation(batchNorm(y, `${name}_norm2`), 'relu', `${name}_relu2`);
  y = conv(y, { filters: growth, kernel: 3, name: `${name}_conv2` });
  return concat([x, y], `${name}_cat`);
}

function denseBlock(x: Sym, layers: number, growth: number, bottleneck: number, name: string): Sym {
  for (let i = 1; i <= layers; i += 1) x = denseLayer(x, growth, bottleneck, `${name}_layer${i}`);
  return x;
}

/** The second half of a transition: 1×1 conv halving the channels, then 2×2 average pooling. */
function transitionDown(skip: Sym, name: string): Sym {
  const reduced = conv(skip, { filters: Math.floor(channelsOf(skip) / 2), kernel: 1, name: `${name}_conv` });
  return avgPool(reduced, 2, 2, `${name}_pool`);
}

function denseNet(p: DenseNetParams): EncoderSpec {
  return {
    family: 'DenseNet',
    outChannels: p.outChannels,
    build({ input, depth, widthScale, outputStride, name }) {
      checkDepth(depth, 'DenseNet');
      rejectDilation('DenseNet', outputStride);
      const growth = scaled(p.growthRate, widthScale);
      const bottleneck = scaled(BN_SIZE * p.growthRate, widthScale);
      const features: Sym[] = [input];
      let x = conv(input, { filters: scaled(p.initFeatures, widthScale), kernel: 7, stride: 2, name: `${name}_conv0` });
      x = activation(batchNorm(x, `${name}_norm0`), 'relu', `${name}_relu0`);
      features.push(x);
      x = maxPool(x, 3, 2, 1, `${name}_pool0`);
      for (let stage = 2; stage <= depth; stage += 1) {
        const blockIndex = stage - 1;
        x = denseBlock(x, p.blocks[blockIndex - 1], growth, bottleneck, `${name}_denseblock${blockIndex}`);
        if (stage < 5) {
          const transitionName = `${name}_transition${blockIndex}`;
          const skip = activation(batchNorm(x, `${transitionName}_norm`), 'relu', `${transitionName}_relu`);
          features.push(skip);
          if (stage < depth) x = transitionDown(skip, transitionName);
        } else {
          features.push(batchNorm(x, `${name}_norm5`));
        }
      }
      return features;
    },
  };
}

export const denseNetEncoders: EncoderRegistry = {
  densenet121: denseNet({
    initFeatures: 64, growthRate: 32, blocks: [6, 12, 24, 16], outChannels: [3, 64, 256, 512, 1024, 1024],
  }),
  densenet169: denseNet({
    initFeatures: 64, growthRate: 32, blocks: [6, 12, 32, 32], outChannels: [3, 64, 256, 512, 1280, 1664],
  }),
  densenet201: denseNet({
    initFeatures: 64, growthRate: 32, blocks: [6, 12, 48, 32], outChannels: [3, 64, 256, 512, 1792, 1920],
  }),
  densenet161: denseNet({
    initFeatures: 96, growthRate: 48, blocks: [6, 12, 36, 24], outChannels: [3, 96, 384, 768, 2112, 2208],
  }),
};
