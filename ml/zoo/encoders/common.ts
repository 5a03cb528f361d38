/**
 * Building blocks shared by the DenseNet, EfficientNet, DPN, RegNet, VGG and MobileNet encoders.
 *
 * tfjs-layers lacks what these PyTorch encoders need: grouped convolutions, dilated depthwise convolutions,
 * gradients through any dilated convolution (tfjs-core asserts dilation 1 in the Conv2D and DepthwiseConv2dNative
 * gradients) and PyTorch's symmetric padding of strided convolutions. The zoo's `TorchConv2d` (blocks.ts) covers
 * them; convolutions where the stock layer computes the same function keep it. Kernels use the zoo's initialiser
 * (blocks.ts), so `withInitSettings` seeds and zero-fills these encoders too.
 */
import * as tf from '@tensorflow/tfjs';
import { TorchConv2d, kernelInitializer, type PaddingMode } from '../blocks';

export type Sym = tf.SymbolicTensor;
export type ActivationName = 'relu' | 'relu6' | 'swish' | 'sigmoid' | 'hardSwish' | 'hardSigmoid';

export function channelsOf(x: Sym): number {
  const channels = x.shape[x.shape.length - 1];
  if (channels == null) throw new Error(`Tensor ${x.name} has no static channel dimension.`);
  return channels;
}

function applyTo(layer: tf.layers.Layer, x: Sym | Sym[]): Sym {
  return layer.apply(x) as Sym;
}

export function greatestCommonDivisor(a: number, b: number): number {
  return b === 0 ? a : greatestCommonDivisor(b, a % b);
}

/** The encoder families' name for the zoo's conv layer (it accepts their `strides` / `dilationRate` spelling). */
export { TorchConv2d as FlexConv2D, type PaddingMode, type TorchConv2dArgs as FlexConv2DArgs } from '../blocks';

export interface ConvOptions {
  filters: number;
  kernel: number;
  stride?: number;
  dilation?: number;
  groups?: number;
  bias?: boolean;
  /** Default 'torch' (symmetric); 'same' for the TF-ported EfficientNet / tf_mobilenetv3. */
  padding?: PaddingMode;
  name: string;
}

/** Convolution; the stock tfjs layer where it computes the same function, TorchConv2d otherwise. */
export function conv(x: Sym, o: ConvOptions): Sym {
  const stride = o.stride ?? 1;
  const dilation = o.kernel > 1 ? o.dilation ?? 1 : 1;
  const groups = o.groups ?? 1;
  const bias = o.bias ?? false;
  const padding = o.padding ?? 'torch';
  const stockPaddingMatches = stride === 1 || o.kernel === 1 || padding === 'same';
  if (groups === 1 && dilation === 1 && stockPaddingMatches) {
    return applyTo(tf.layers.conv2d({
      filters: o.filters, kernelSize: o.kernel, strides: stride, padding: 'same', useBias: bias,
      kernelInitializer: kernelInitializer(), name: o.name,
    }), x);
  }
  return applyTo(new TorchConv2d({
    filters: o.filters, kernelSize: o.kernel, stride, dilation, groups, useBias: bias, padding, name: o.name,
  }), x);
}

/** BatchNorm over channels. `epsilon` follows the PyTorch source (1e-5 torchvision/timm, 1e-3 DPN/EfficientNet). */
export function batchNorm(x: Sym, name: string, epsilon = 1e-5, momentum = 0.9): Sym {
  return applyTo(tf.layers.batchNormalization({ axis: -1, epsilon, momentum, name }), x);
}

/**
 * PyTorch's hardsigmoid (relu6(x + 3) / 6) and hardswish (x · hardsigmoid(x)); tfjs' own 'hardSigmoid' is Keras'
 * clip(0.2x + 0.5), a different function.
 */
export class HardActivation extends tf.layers.Layer {
  static className = 'EchoHardActivation';
  readonly kind: 'hardSwish' | 'hardSigmoid';

  constructor(args: { kind: 'hardSwish' | 'hardSigmoid'; name?: string }) {
    super({ name: args.name });
    this.kind = args.kind;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const gate = tf.div(tf.relu6(tf.add(x, 3)), 6);
      return this.kind === 'hardSwish' ? tf.mul(x, gate) : gate;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), kind: this.kind };
  }
}
tf.serialization.registerClass(HardActivation);

export function activation(x: Sym, kind: ActivationName, name: string): Sym {
  if (kind === 'hardSwish' || kind === 'hardSigmoid') return applyTo(new HardActivation({ kind, name }), x);
  return applyTo(tf.layers.activation({ activation: kind, name }), x);
}

export interface ConvBnActOptions extends ConvOptions {
  act: ActivationName | null;
  bnEpsilon?: number;
  bnMomentum?: number;
}

export function convBnAct(x: Sym, o: ConvBnActOptions): Sym {
  const y = batchNorm(conv(x, o), `${o.name}_bn`, o.bnEpsilon, o.bnMomentum);
  return o.act ? activation(y, o.act, `${o.name}_${o.act}`) : y;
}

export function add(xs: Sym[], name: string): Sym {
  return applyTo(tf.layers.add({ name }), xs);
}

export function concat(xs: Sym[], name: string): Sym {
  return applyTo(tf.layers.concatenate({ axis: -1, name }), xs);
}

/**
 * `nn.MaxPool2d(size, stride, padding)`. Zero padding stands in for PyTorch's −∞ padding, which is the same
 * function only for non-negative inputs: every padded use here follows a ReLU.
 */
export function maxPool(x: Sym, size: number, stride: number, padding: number, name: string): Sym {
  const padded = padding > 0
    ? applyTo(tf.layers.zeroPadding2d({ padding: [[padding, padding], [padding, padding]], name: `${name}_pad` }), x)
    : x;
  return applyTo(tf.layers.maxPooling2d({ poolSize: size, strides: stride, padding: 'valid', name }), padded);
}

export function avgPool(x: Sym, size: number, stride: number, name: string): Sym {
  return applyTo(tf.layers.averagePooling2d({ poolSize: size, strides: stride, padding: 'valid', name }), x);
}

/** Squeeze-and-excitation: global pool → 1×1 conv (bias) → act → 1×1 conv (bias) → gate (sigmoid) × x. */
export function squeezeExcite(
  x: Sym, reducedChannels: number, innerAct: ActivationName, name: string,
  gate: 'sigmoid' | 'hardSigmoid' = 'sigmoid',
): Sym {
  const channels = channelsOf(x);
  let s = applyTo(tf.layers.globalAveragePooling2d({ name: `${name}_pool` }), x);
  s = applyTo(tf.layers.reshape({ targetShape: [1, 1, channels], name: `${name}_reshape` }), s);
  s = conv(s, { filters: reducedChannels, kernel: 1, bias: true, name: `${name}_reduce` });
  s = activation(s, innerAct, `${name}_${innerAct}`);
  s = conv(s, { filters: channels, kernel: 1, bias: true, name: `${name}_expand` });
  s = activation(s, gate, `${name}_gate`);
  return applyTo(tf.layers.multiply({ name: `${name}_scale` }), [x, s]);
}

/**
 * smp's `make_dilated`: dilation per feature index 0…5. Output stride 16 dilates stage 5 by 2; 8 dilates stages
 * 4 and 5 by 2 and 4. In a dilated stage every convolution runs at stride 1 with that dilation, as smp's
 * `replace_strides_with_dilation` does to every Conv2d of the stage.
 */
export function stageDilations(outputStride: number): number[] {
  if (outputStride === 32) return [1, 1, 1, 1, 1, 1];
  if (outputStride === 16) return [1, 1, 1, 1, 1, 2];
  if (outputStride === 8) return [1, 1, 1, 1, 2, 4];
  throw new Error(`Output stride should be 32, 16 or 8, got ${outputStride}.`);
}

/** Stride and dilation of a stage's convolutions once smp's make_dilated has run. */
export function strideAndDilation(stride: number, stageDilation: number): { stride: number; dilation: number } {
  return stageDilation > 1 ? { stride: 1, dilation: stageDilation } : { stride, dilation: 1 };
}

/** smp refuses dilation for encoders that downsample by pooling (VGG, DenseNet). */
export function rejectDilation(family: string, outputStride: number): void {
  if (outputStride !== 32) {
    throw new Error(
      `${family} encoders do not support output stride ${outputStride}: they downsample with pooling, which ` +
      'cannot be dilated (segmentation_models_pytorch refuses this too). Use outputStride 32 or another encoder.',
    );
  }
}

export function checkDepth(depth: number, family: string): void {
  if (!Number.isInteger(depth) || depth < 1 || depth > 5) {
    throw new Error(`${family} encoder depth must be an integer in 1…5, got ${depth}.`);
  }
}

/** Python's round(): halves go to the even neighbour (numpy and timm rely on it). */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
