/**
 * The encoder registry: every family's table under segmentation_models_pytorch's names, in one flat map. Adding a
 * family is one spread here; adding an encoder is one entry in its family's table.
 */
import type { EncoderRegistry } from './contract';
import { denseNetEncoders } from './densenet';
import { dpnEncoders } from './dpn';
import { efficientNetEncoders } from './efficientnet';
import { mobileNetEncoders } from './mobilenet';
import { regNetEncoders } from './regnet';
import { resnetEncoders } from './resnet';
import { vggEncoders } from './vgg';

export const encoderRegistry: EncoderRegistry = {
  ...resnetEncoders,
  ...denseNetEncoders,
  ...efficientNetEncoders,
  ...dpnEncoders,
  ...regNetEncoders,
  ...vggEncoders,
  ...mobileNetEncoders,
};

export type { EncoderBuildArgs, EncoderRegistry, EncoderSpec } from './contract';
