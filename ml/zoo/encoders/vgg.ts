/**
 * VGG encoders with batch norm (torchvision `make_layers(cfg, batch_norm=True)`, classifier removed).
 * smp splits `features` at every max-pool: feature 0 is the full-resolution conv block (64 channels, not the input),
 * each later feature starts with a max-pool, and feature 5 is the last max-pool alone. Convolutions keep their
 * bias even before BN, as in torchvision.
 */
import type * as tf from '@tensorflow/tfjs';
import { LayerBuilder, activation, batchNorm, conv2d, maxPool } from '../blocks';
import { checkDepth, rejectDilation, scaled, type EncoderRegistry, type EncoderSpec } from './contract';

/** Conv widths per stage (torchvision configs A, B, D, E); a max-pool precedes every stage after the first. */
type VggConfig = readonly (readonly number[])[];

const CONFIGS: Record<'A' | 'B' | 'D' | 'E', VggConfig> = {
  A: [[64], [128], [256, 256], [512, 512], [512, 512], []],
  B: [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512], []],
  D: [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512], []],
  E: [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512], []],
};

const VGG_OUT_CHANNELS = [64, 128, 256, 512, 512, 512] as const;

function vggBn(config: VggConfig): EncoderSpec {
  return {
    family: 'VGG',
    outChannels: VGG_OUT_CHANNELS,
    build({ input, depth, widthScale, outputStride, name }) {
      checkDepth(depth, 'VGG');
      rejectDilation('VGG', outputStride);
      const b = new LayerBuilder(name, 'keras');
      const features: tf.SymbolicTensor[] = [];
      let x = input;
      let layer = 0;
      for (let stage = 0; stage <= depth; stage += 1) {
        if (stage > 0) x = maxPool(b, x, `pool${stage}`, { poolSize: 2, stride: 2 });
        for (const width of config[stage]) {
          x = conv2d(b, x, `conv${layer}`, { filters: scaled(width, widthScale), kernelSize: 3, bias: true });
          x = activation(b, batchNorm(b, x, `bn${layer}`), `relu${layer}`, 'relu');
          layer += 1;
        }
        features.push(x);
      }
      return features;
    },
  };
}

export const vggEncoders: EncoderRegistry = {
  vgg11_bn: vggBn(CONFIGS.A),
  vgg13_bn: vggBn(CONFIGS.B),
  vgg16_bn: vggBn(CONFIGS.D),
  vgg19_bn: vggBn(CONFIGS.E),
};
