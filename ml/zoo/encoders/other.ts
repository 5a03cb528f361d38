/**
 * Every non-ResNet encoder family, merged into one registry: DenseNet, EfficientNet, DPN, RegNetX/Y, VGG-bn and
 * MobileNet, under segmentation_models_pytorch's names.
 */
import type { EncoderRegistry } from '../encoderTypes';
import { denseNetEncoders } from './densenet';
import { dpnEncoders } from './dpn';
import { efficientNetEncoders } from './efficientnet';
import { mobileNetEncoders } from './mobilenet';
import { regNetEncoders } from './regnet';
import { vggEncoders } from './vgg';

export const otherEncoders: EncoderRegistry = {
  ...denseNetEncoders,
  ...efficientNetEncoders,
  ...dpnEncoders,
  ...regNetEncoders,
  ...vggEncoders,
  ...mobileNetEncoders,
};
