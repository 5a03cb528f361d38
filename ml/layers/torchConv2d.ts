/**
 * `TorchConv2d`, the zoo's one convolution layer (every encoder family and decoder), reproducing PyTorch's
 * `nn.Conv2d` in NHWC: symmetric zero padding like `nn.Conv2d(padding=p)` or TF's 'same' (which pads strided convs
 * asymmetrically, as the TF-ported encoders need), `groups` (one native grouped op on tfjs-node), and dilation
 * computed through space-to-batch so that it trains (tfjs' conv gradients reject dilation > 1).
 */
import * as tf from '@tensorflow/tfjs';
import { nativeKernelsActive } from '../nativeKernels';

/** tfjs-layers' Initializer class (not exported under a public name). */
export type Initializer = Exclude<NonNullable<Parameters<typeof tf.layers.conv2d>[0]['kernelInitializer']>, string>;

/**
 * Kaiming-uniform (fan-in, gain √2), PyTorch-like, for a layer constructed without an initialiser: the zoo always
 * passes its own (seeded or zero-filled); a model loaded from a file overwrites the kernel anyway.
 */
function defaultKernelInitializer(): Initializer {
  return tf.initializers.varianceScaling({ scale: 2, mode: 'fanIn', distribution: 'uniform' });
}

/**
 * 'torch': symmetric zero padding of dilation · (k − 1) / 2 per side, as `nn.Conv2d(padding=k // 2)`;
 * 'same': TensorFlow's 'same' (the extra row and column go at the end when strided), as the TF-ported EfficientNet
 * and tf_mobilenetv3 use. The two differ only for strided convolutions, and never in output size for even inputs.
 */
export type PaddingMode = 'torch' | 'same';

export interface TorchConv2dArgs {
  name?: string;
  filters: number;
  kernelSize: number;
  stride?: number;
  /**
   * A number: symmetric zero padding per side, as `nn.Conv2d(padding=p)`. 'torch' (the default): dilation·(k−1)/2,
   * which keeps the size at stride 1. 'same': TensorFlow's asymmetric 'same'.
   */
  padding?: number | PaddingMode;
  dilation?: number;
  /** PyTorch `groups`: input and output channels split into this many independent convolutions. */
  groups?: number;
  useBias?: boolean;
  kernelInitializer?: Initializer;
  /** `stride` as the encoder families' layer spelled it (also in checkpoints saved as 'EchoFlexConv2D'). */
  strides?: number;
  /** `dilation`, likewise. */
  dilationRate?: number;
}

/** [top, bottom, left, right] zero padding. */
type Pads = [number, number, number, number];

/** TensorFlow's 'same' padding of one axis: the output is ⌈n / stride⌉, the odd pixel goes at the end. */
export function samePadding(n: number, kernelSize: number, stride: number, dilation: number): [number, number] {
  const total = Math.max((Math.ceil(n / stride) - 1) * stride + dilation * (kernelSize - 1) + 1 - n, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Keeps every `stride`-th row and column (indices 0, s, 2s, …) with reshape/slice, which have gradients. */
function subsample(x: tf.Tensor4D, stride: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const outH = Math.floor((h - 1) / stride) + 1;
  const outW = Math.floor((w - 1) / stride) + 1;
  const padded = tf.pad(x, [[0, 0], [0, outH * stride - h], [0, outW * stride - w], [0, 0]]);
  return padded
    .reshape([n, outH, stride, outW, stride, c])
    .slice([0, 0, 0, 0, 0, 0], [n, outH, 1, outW, 1, c])
    .reshape([n, outH, outW, c]) as tf.Tensor4D;
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
 * `nn.Conv2d` in NHWC: symmetric (PyTorch) or TensorFlow 'same' padding, stride, `groups`, trainable dilation, optional
 * bias. The kernel is [k, k, in / groups, filters] with output channels grouped contiguously, like PyTorch, so
 * parameter counts match. Dilation runs as space-to-batch → undilated 'valid' conv → batch-to-space (TensorFlow's
 * own atrous algorithm, differentiable in tfjs, whose conv gradients reject dilation > 1); stride with dilation
 * keeps every stride-th output. Groups run as one conv (plain), one depthwise conv (groups = input channels, any
 * channel multiplier), one native grouped conv on the tfjs-node backends, or one conv per group elsewhere.
 */
export class TorchConv2d extends tf.layers.Layer {
  static className = 'TorchConv2d';
  readonly filters: number;
  readonly kernelSize: number;
  readonly stride: number;
  /** Symmetric padding per side, or 'same'. */
  readonly padding: number | 'same';
  readonly dilation: number;
  readonly groups: number;
  readonly useBias: boolean;
  private readonly kernelInit: Initializer;
  private kernel?: tf.LayerVariable;
  private bias?: tf.LayerVariable;

  constructor(args: TorchConv2dArgs) {
    super({ name: args.name });
    this.filters = args.filters;
    this.kernelSize = args.kernelSize;
    this.stride = args.stride ?? args.strides ?? 1;
    this.dilation = args.dilation ?? args.dilationRate ?? 1;
    const padding = args.padding ?? 'torch';
    this.padding = padding === 'torch' ? (this.dilation * (this.kernelSize - 1)) / 2 : padding;
    this.groups = args.groups ?? 1;
    this.useBias = args.useBias ?? false;
    this.kernelInit = args.kernelInitializer ?? defaultKernelInitializer();
    if (this.padding !== 'same' && !Number.isInteger(this.padding)) {
      throw new Error(`${this.name}: padding must be an integer, got ${this.padding} (an even kernel needs padding 'same' or a number).`);
    }
    if (this.filters % this.groups !== 0) {
      throw new Error(`${this.name}: ${this.filters} output channels are not divisible by groups=${this.groups}.`);
    }
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const inChannels = shape[3];
    if (inChannels == null || inChannels % this.groups !== 0) {
      throw new Error(`${this.name}: ${inChannels} input channels are not divisible by groups=${this.groups}.`);
    }
    const k = this.kernelSize;
    this.kernel = this.addWeight('kernel', [k, k, inChannels / this.groups, this.filters], 'float32', this.kernelInit);
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const padding = this.padding;
    const size = (n: number | null) => {
      if (n === null) return null;
      if (padding === 'same') return Math.ceil(n / this.stride);
      return Math.floor((n + 2 * padding - this.dilation * (this.kernelSize - 1) - 1) / this.stride) + 1;
    };
    return [shape[0], size(shape[1]), size(shape[2]), this.filters];
  }

  /** Zero padding of an h×w input. */
  private pads(h: number, w: number, dilation: number): Pads {
    if (this.padding !== 'same') return [this.padding, this.padding, this.padding, this.padding];
    return [...samePadding(h, this.kernelSize, this.stride, dilation), ...samePadding(w, this.kernelSize, this.stride, dilation)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean } = {}): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const inference = kwargs.training !== true;
      const [, h, w] = x.shape;
      let kernel = this.kernel!.read() as tf.Tensor4D;
      let dilation = this.kernelSize > 1 ? this.dilation : 1;
      let pads = this.pads(h, w, dilation);
      const centred = pads.every((p) => 2 * p === dilation * (this.kernelSize - 1));
      if (this.stride === 1 && dilation > 1 && centred && dilation >= h && dilation >= w) {
        // Every off-centre tap lands in the zero padding (e.g. ASPP rate 36 on an 8×8 map): a 1×1 conv with
        // the centre tap is the same function, with the same gradients, at a fraction of the cost.
        const centre = (this.kernelSize - 1) / 2;
        kernel = kernel.slice([centre, centre, 0, 0], [1, 1, -1, -1]);
        dilation = 1;
        pads = [0, 0, 0, 0];
      }
      const y = dilation > 1 ? this.atrous(x, kernel, dilation, pads, inference) : this.padded(x, kernel, pads, inference);
      return this.bias ? tf.add(y, this.bias.read()) : y;
    });
  }

  /** Undilated: TF's 'same' where the padding is the same as it, else explicit zero padding and 'valid'. */
  private padded(x: tf.Tensor4D, kernel: tf.Tensor4D, [top, bottom, left, right]: Pads, inference: boolean): tf.Tensor4D {
    const [, h, w] = x.shape;
    const k = kernel.shape[0];
    const [sameTop, sameBottom] = samePadding(h, k, this.stride, 1);
    const [sameLeft, sameRight] = samePadding(w, k, this.stride, 1);
    if (top === sameTop && bottom === sameBottom && left === sameLeft && right === sameRight) {
      return this.convolve(x, kernel, this.stride, 'same', inference);
    }
    const xp = top + bottom + left + right > 0 ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]) : x;
    return this.convolve(xp, kernel, this.stride, 'valid', inference);
  }

  /** Dilated: the padding goes into space-to-batch, rounded up to a multiple of the rate and cropped after. */
  private atrous(x: tf.Tensor4D, kernel: tf.Tensor4D, d: number, [top, bottom, left, right]: Pads, inference: boolean): tf.Tensor4D {
    const [, h, w] = x.shape;
    const extraH = (d - ((h + top + bottom) % d)) % d;
    const extraW = (d - ((w + left + right) % d)) % d;
    const phases = tf.spaceToBatchND(x, [d, d], [[top, bottom + extraH], [left, right + extraW]]) as tf.Tensor4D;
    const y = tf.batchToSpaceND(this.convolve(phases, kernel, 1, 'valid', inference), [d, d], [[0, extraH], [0, extraW]]) as tf.Tensor4D;
    return this.stride === 1 ? y : subsample(y, this.stride);
  }

  /** `inference`: no gradient will be taken (free to pick a formulation whose gradient is slow). */
  private convolve(x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, pad: 'same' | 'valid', inference: boolean): tf.Tensor4D {
    const inChannels = x.shape[3];
    if (this.groups === 1 && kernel.shape[3] === 1 && kernel.shape[0] > 1 && stride === 1 && inference) {
      // One output channel (a sigmoid segmentation head) and a k × k kernel, at inference: a depthwise conv summed
      // over channels is the same function and, with TensorFlow's kernels, faster (3 × 3, 16 × 256² × 16 → 1: ≈ 19
      // vs 35 ms; never slower from 16 to 256 channels; oneDNN's conv vectorises over output channels). Not for
      // 1 × 1 kernels (a matrix product: the conv is faster) nor in training (its gradients were not compared).
      // The channel sum as a product with ones: TensorFlow's innermost-axis Sum took ≈ 3× as long in the MC tail.
      const perChannel = tf.depthwiseConv2d(x, kernel, 1, pad);
      const [n, oh, ow, c] = perChannel.shape;
      return tf.matMul(perChannel.reshape([n * oh * ow, c]), tf.ones([c, 1])).reshape([n, oh, ow, 1]) as tf.Tensor4D;
    }
    if (this.groups === 1) return tf.conv2d(x, kernel, stride, pad);
    if (this.groups === inChannels) {
      // Depthwise (with channel multiplier): PyTorch's output o = i · multiplier + j is TF's depthwise layout.
      const k = kernel.shape[0];
      const depthwiseKernel = tf.reshape(kernel, [k, k, inChannels, this.filters / inChannels]) as tf.Tensor4D;
      return tf.depthwiseConv2d(x, depthwiseKernel, stride, pad);
    }
    if (nativeKernelsActive()) return nativeGroupedConv2d(x, kernel, stride, pad);
    const xs = tf.split(x, this.groups, 3) as tf.Tensor4D[];
    const ks = tf.split(kernel, this.groups, 3) as tf.Tensor4D[];
    return tf.concat(xs.map((xi, i) => tf.conv2d(xi, ks[i], stride, pad)), 3);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
      useBias: this.useBias,
    };
  }
}
