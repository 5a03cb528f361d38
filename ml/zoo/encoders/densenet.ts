/**
 * DenseNet encoders (torchvision DenseNet as wrapped by smp's DenseNetEncoder, classifier removed).
 * smp's stage split: feature 1 = relu(norm0(conv0)); features 2–4 = the transition's BN+ReLU output (taken before its
 * 1×1 conv and average pool); feature 5 = norm5 of the last dense block, without ReLU.
 */
import type * as tf from '@tensorflow/tfjs';
import { LayerBuilder, activation, avgPool, batchNorm, channelsOf, concat, conv2d, maxPool } from '../blocks';
import { checkDepth, rejectDilation, scaled, type EncoderRegistry, type EncoderSpec } from './contract';

type Sym = tf.SymbolicTensor;

interface DenseNetParams {
  initFeatures: number;
  growthRate: number;
  blocks: readonly [number, number, number, number];
  outChannels: readonly number[];
}

/** torchvision's bn_size: the 1×1 bottleneck of each dense layer has bnSize × growthRate channels. */
const BN_SIZE = 4;

/** BN → ReLU, DenseNet's pre-activation. */
function normRelu(b: LayerBuilder, x: Sym, norm: string, relu: string): Sym {
  return activation(b, batchNorm(b, x, norm), relu, 'relu');
}

function denseLayer(b: LayerBuilder, x: Sym, name: string, growth: number, bottleneck: number): Sym {
  let y = normRelu(b, x, `${name}_norm1`, `${name}_relu1`);
  y = conv2d(b, y, `${name}_conv1`, { filters: bottleneck, kernelSize: 1 });
  y = normRelu(b, y, `${name}_norm2`, `${name}_relu2`);
  y = conv2d(b, y, `${name}_conv2`, { filters: growth, kernelSize: 3 });
  return concat(b, [x, y], `${name}_cat`);
}

function denseBlock(b: LayerBuilder, x: Sym, name: string, layers: number, growth: number, bottleneck: number): Sym {
  for (let i = 1; i <= layers; i += 1) x = denseLayer(b, x, `${name}_layer${i}`, growth, bottleneck);
  return x;
}

/** The second half of a transition: 1×1 conv halving the channels, then 2×2 average pooling. */
function transitionDown(b: LayerBuilder, skip: Sym, name: string): Sym {
  const reduced = conv2d(b, skip, `${name}_conv`, { filters: Math.floor(channelsOf(skip) / 2), kernelSize: 1 });
  return avgPool(b, reduced, `${name}_pool`, { poolSize: 2, stride: 2 });
}

function denseNet(p: DenseNetParams): EncoderSpec {
  return {
    family: 'DenseNet',
    outChannels: p.outChannels,
    build({ input, depth, widthScale, outputStride, name }) {
      checkDepth(depth, 'DenseNet');
      rejectDilation('DenseNet', outputStride);
      const b = new LayerBuilder(name, 'keras');
      const growth = scaled(p.growthRate, widthScale);
      const bottleneck = scaled(BN_SIZE * p.growthRate, widthScale);
      const features: Sym[] = [input];
      let x = conv2d(b, input, 'conv0', { filters: scaled(p.initFeatures, widthScale), kernelSize: 7, stride: 2 });
      x = normRelu(b, x, 'norm0', 'relu0');
      features.push(x);
      x = maxPool(b, x, 'pool0', { poolSize: 3, stride: 2, padding: 1 });
      for (let stage = 2; stage <= depth; stage += 1) {
        const blockIndex = stage - 1;
        x = denseBlock(b, x, `denseblock${blockIndex}`, p.blocks[blockIndex - 1], growth, bottleneck);
        if (stage < 5) {
          const transitionName = `transition${blockIndex}`;
          const skip = normRelu(b, x, `${transitionName}_norm`, `${transitionName}_relu`);
          features.push(skip);
          if (stage < depth) x = transitionDown(b, skip, transitionName);
        } else {
          features.push(batchNorm(b, x, 'norm5'));
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
