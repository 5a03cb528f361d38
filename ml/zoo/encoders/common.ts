/**
 * Building blocks shared by the DenseNet, EfficientNet, DPN, RegNet, VGG and MobileNet encoders.
 *
 * tfjs-layers lacks what these PyTorch encoders need: grouped convolutions, dilated depthwise convolutions,
 * gradients through any dilated convolution (tfjs-core asserts dilation 1 in the Conv2D and DepthwiseConv2dNative
 * gradients) and PyTorch's symmetric padding of strided convolutions. `FlexConv2D` covers them; plain stride-1
 * convolutions keep the stock layer. Kernels use the zoo's initialiser (blocks.ts), so `withInitSettings` seeds and
 * zero-fills these encoders too.
 */
import * as tf from '@tensorflow/tfjs';
import { kernelInitializer, type Initializer } from '../blocks';

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

/**
 * Grouped convolution in one native TensorFlow op (libtensorflow's Conv2D takes a [k, k, in / groups, out] filter;
 * cuDNN runs it as one grouped kernel). tfjs' `conv2d` op and its gradient assert equal channel depths, so the
 * kernels are invoked directly and the gradient is wired by hand.
 */
function nativeGroupedConv2d(x: tf.Tensor4D, kernel: tf.Tensor4D, strides: number, pad: 'same' | 'valid'): tf.Tensor4D {
  const attrs = { strides: [strides, strides], pad, dataFormat: 'NHWC', dilations: [1, 1] };
  const run = (input: tf.Tensor4D, filter: tf.Tensor4D) =>
    tf.engine().runKernel('Conv2D', { x: input, filter }, attrs) as tf.Tensor4D;
  const grouped = tf.customGrad((input, filter, save) => {
    const xIn = input as tf.Tensor4D;
    const kIn = filter as tf.Tensor4D;
    (save as tf.GradSaveFunc)([xIn, kIn]);
    return {
      value: run(xIn, kIn),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [savedX, savedK] = saved;
        const dy4 = dy as tf.Tensor4D;
        return [
          tf.engine().runKernel('Conv2DBackpropInput', { dy: dy4, filter: savedK },
            { ...attrs, inputShape: savedX.shape }),
          tf.engine().runKernel('Conv2DBackpropFilter', { x: savedX, dy: dy4 },
            { ...attrs, filterShape: savedK.shape }),
        ] as tf.Tensor[];
      },
    };
  });
  return grouped(x, kernel) as tf.Tensor4D;
}

/**
 * 'torch': symmetric zero padding of (k − 1) · dilation / 2 per side, as `nn.Conv2d(padding=k // 2)`;
 * 'same': TensorFlow's 'same' (extra row and column at the end when strided), as the TF-ported EfficientNet and
 * tf_mobilenetv3 use. The two differ only for strided convolutions, and never in output size for even inputs.
 */
export type PaddingMode = 'torch' | 'same';

export interface FlexConv2DArgs {
  filters: number;
  kernelSize: number;
  strides?: number;
  dilationRate?: number;
  /** PyTorch `groups`: input and output channels split into this many independent convolutions. */
  groups?: number;
  useBias?: boolean;
  padding?: PaddingMode;
  kernelInitializer?: Initializer;
  name?: string;
}

/**
 * Conv2D with PyTorch-style `groups`, trainable dilation and a choice of padding (NHWC).
 * The kernel is [k, k, inChannels / groups, filters] with output channels grouped contiguously, like PyTorch, so
 * parameter counts match. Dilation runs as space-to-batch → undilated 'valid' conv → batch-to-space (TensorFlow's
 * own atrous algorithm), which is exact for odd kernels and differentiable in tfjs.
 */
export class FlexConv2D extends tf.layers.Layer {
  static className = 'EchoFlexConv2D';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly dilationRate: number;
  readonly groups: number;
  readonly useBias: boolean;
  readonly padding: PaddingMode;
  private readonly kernelInit: Initializer;
  private kernel?: tf.LayerVariable;
  private bias?: tf.LayerVariable;

  constructor(args: FlexConv2DArgs) {
    super({ name: args.name });
    this.filters = args.filters;
    this.kernelSize = args.kernelSize;
    this.strides = args.strides ?? 1;
    this.dilationRate = args.dilationRate ?? 1;
    this.groups = args.groups ?? 1;
    this.useBias = args.useBias ?? false;
    this.padding = args.padding ?? 'torch';
    this.kernelInit = args.kernelInitializer ?? kernelInitializer();
    if (this.kernelSize % 2 === 0 && this.padding === 'torch') {
      throw new Error(`${this.name}: symmetric padding needs an odd kernel, got ${this.kernelSize}.`);
    }
    if (this.strides > 1 && this.dilationRate > 1) {
      throw new Error(`${this.name}: stride ${this.strides} and dilation ${this.dilationRate} cannot be combined.`);
    }
    if (this.dilationRate > 1 && this.kernelSize % 2 === 0) {
      throw new Error(`${this.name}: dilated convolutions need an odd kernel, got ${this.kernelSize}.`);
    }
    if (this.filters % this.groups !== 0) {
      throw new Error(`${this.name}: ${this.filters} filters are not divisible into ${this.groups} groups.`);
    }
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const inChannels = shape[3];
    if (inChannels == null || inChannels % this.groups !== 0) {
      throw new Error(`${this.name}: ${inChannels} input channels are not divisible into ${this.groups} groups.`);
    }
    const k = this.kernelSize;
    this.kernel = this.addWeight('kernel', [k, k, inChannels / this.groups, this.filters], 'float32', this.kernelInit);
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const pad = (this.kernelSize - 1) / 2;
    const reduce = (size: number | null) => {
      if (size == null) return null;
      return this.padding === 'same'
        ? Math.ceil(size / this.strides)
        : Math.floor((size + 2 * pad - this.kernelSize) / this.strides) + 1;
    };
    return [shape[0], reduce(shape[1]), reduce(shape[2]), this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const kernel = this.kernel!.read() as tf.Tensor4D;
      let y: tf.Tensor4D;
      if (this.dilationRate > 1 && this.kernelSize > 1) {
        y = this.atrous(x, kernel);
      } else if (this.strides > 1 && this.kernelSize > 1 && this.padding === 'torch') {
        const p = (this.kernelSize - 1) / 2;
        y = this.convolve(tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]), kernel, this.strides, 'valid');
      } else {
        y = this.convolve(x, kernel, this.strides, 'same');
      }
      if (this.bias) y = tf.add(y, this.bias.read());
      return y;
    });
  }

  private atrous(x: tf.Tensor4D, kernel: tf.Tensor4D): tf.Tensor4D {
    const d = this.dilationRate;
    const half = ((this.kernelSize - 1) * d) / 2;
    const extraH = (d - (x.shape[1] % d)) % d;
    const extraW = (d - (x.shape[2] % d)) % d;
    const phases = tf.spaceToBatchND(x, [d, d], [[half, half + extraH], [half, half + extraW]]);
    const y = this.convolve(phases, kernel, 1, 'valid');
    return tf.batchToSpaceND(y, [d, d], [[0, extraH], [0, extraW]]);
  }

  private convolve(x: tf.Tensor4D, kernel: tf.Tensor4D, strides: number, pad: 'same' | 'valid'): tf.Tensor4D {
    const inChannels = x.shape[3];
    if (this.groups === 1) return tf.conv2d(x, kernel, strides, pad);
    if (this.groups === inChannels) {
      // Depthwise (with channel multiplier): PyTorch's output o = i * multiplier + j is TF's depthwise layout.
      const k = this.kernelSize;
      const depthwiseKernel = tf.reshape(kernel, [k, k, inChannels, this.filters / inChannels]) as tf.Tensor4D;
      return tf.depthwiseConv2d(x, depthwiseKernel, strides, pad);
    }
    if (tf.getBackend() === 'tensorflow') return nativeGroupedConv2d(x, kernel, strides, pad);
    const xs = tf.split(x, this.groups, 3) as tf.Tensor4D[];
    const ks = tf.split(kernel, this.groups, 3) as tf.Tensor4D[];
    return tf.concat(xs.map((xi, i) => tf.conv2d(xi, ks[i], strides, pad)), 3);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      dilationRate: this.dilationRate,
      groups: this.groups,
      useBias: this.useBias,
      padding: this.padding,
    };
  }
}
tf.serialization.registerClass(FlexConv2D);

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

/** Convolution; the stock tfjs layer where it computes the same function, FlexConv2D otherwise. */
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
  return applyTo(new FlexConv2D({
    filters: o.filters, kernelSize: o.kernel, strides: stride, dilationRate: dilation, groups, useBias: bias, padding,
    name: o.name,
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
