/**
 * VGG encoders with batch norm (torchvision `make_layers(cfg, batch_norm=True)`, classifier removed).
 * smp splits `features` at every max-pool: feature 0 is the full-resolution conv block (64 channels, not the input),
 * each later feature starts with a max-pool, and feature 5 is the last max-pool alone. Convolutions keep their
 * bias even before BN, as in torchvision.
 */
import { scaled, type EncoderRegistry, type EncoderSpec } from '../encoderTypes';
import { activation, batchNorm, checkDepth, conv, maxPool, rejectDilation, type Sym } from './common';

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
      const features: Sym[] = [];
      let x = input;
      let layer = 0;
      for (let stage = 0; stage <= depth; stage += 1) {
        if (stage > 0) x = maxPool(x, 2, 2, 0, `${name}_pool${stage}`);
        for (const width of config[stage]) {
          x = conv(x, { filters: scaled(width, widthScale), kernel: 3, bias: true, name: `${name}_conv${layer}` });
          x = activation(batchNorm(x, `${name}_bn${layer}`), 'relu', `${name}_relu${layer}`);
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
