/**
 * The custom tfjs layers of the ML library, and their one registration with tfjs' serialization, so that
 * `tf.loadLayersModel` rebuilds saved models and checkpoints that contain them. Import from here (not from the
 * single files) wherever models are built or loaded. The `className` strings are what saved topologies name:
 * they never change.
 *
 * `MCDropout` registers itself in its own module, which the trainer and the MC engine import directly; it is
 * re-exported here so that this one import registers every custom layer.
 */
import * as tf from '@tensorflow/tfjs';
import { AdaptiveAvgPool2d } from './adaptiveAvgPool2d';
import { ChannelSlice } from './channelSlice';
import { GroupNorm } from './groupNorm';
import { HardActivation } from './hardActivation';
import { PositionAttention } from './positionAttention';
import { RadixSoftmax, RadixSum } from './radix';
import { ResizeBilinear } from './resizeBilinear';
import { TorchConv2d } from './torchConv2d';

/** Every layer class registered here, by the `className` saved topologies use. */
export const customLayers = [
  TorchConv2d,
  GroupNorm,
  AdaptiveAvgPool2d,
  ResizeBilinear,
  RadixSoftmax,
  RadixSum,
  ChannelSlice,
  HardActivation,
  PositionAttention,
] as const;

for (const layerClass of customLayers) tf.serialization.registerClass(layerClass);

export { AdaptiveAvgPool2d, adaptiveMatrix } from './adaptiveAvgPool2d';
export { ChannelSlice } from './channelSlice';
export { GroupNorm } from './groupNorm';
export { HardActivation } from './hardActivation';
export { MCDropout, dropoutMask, setMCDropoutSeed, setMCMode, type MCDropoutArgs } from './mcDropout';
export { PositionAttention } from './positionAttention';
export { RadixSoftmax, RadixSum } from './radix';
export { ResizeBilinear } from './resizeBilinear';
export { TorchConv2d, samePadding, type Initializer, type PaddingMode, type TorchConv2dArgs } from './torchConv2d';
