/**
 * Building blocks shared by every encoder and decoder of the zoo, written to reproduce PyTorch
 * (segmentation_models_pytorch / torchvision / timm) layer semantics in TensorFlow.js:
 *
 * - `TorchConv2d`, the zoo's one convolution layer (every encoder family and decoder): symmetric zero padding like
 *   `nn.Conv2d(padding=p)` or TF's 'same' (which pads strided convs asymmetrically, as the TF-ported encoders
 *   need), `groups` (one native grouped op on tfjs-node), and dilation computed through space-to-batch so that
 *   it trains (tfjs' conv gradients reject dilation > 1).
 * - Norms with PyTorch defaults (eps 1e-5, BN momentum 0.1 ≡ Keras 0.9), GroupNorm, adaptive pooling,
 *   bilinear resize with `align_corners`, and the attention blocks (SE, split attention, selective kernel).
 *
 * Layers are created through a `LayerBuilder`, which caches them by name: applying a block a second time
 * with the same names re-uses the same layers (shared weights). `buildModel` relies on this to build the
 * Monte Carlo tail on fresh inputs. Signatures here are stable: other encoder families import them.
 */
import * as tf from '@tensorflow/tfjs';
import { MCDropout } from '../layers/mcDropout';

type Sym = tf.SymbolicTensor;
/** tfjs-layers' Initializer class (not exported under a public name). */
export type Initializer = Exclude<NonNullable<Parameters<typeof tf.layers.conv2d>[0]['kernelInitializer']>, string>;

// ---------------------------------------------------------------------------------------------------------
// Initialisation scope
// ---------------------------------------------------------------------------------------------------------

export interface InitSettings {
  /** 'random' = Kaiming-uniform convs (PyTorch-like); 'zeros' = cheap allocation when only shapes/counts matter. */
  mode: 'random' | 'zeros';
  /** Base seed; each weight gets base + running index, so a seeded build is reproducible. */
  seed?: number;
}

let initSettings: InitSettings = { mode: 'random' };
let initCounter = 0;

/** Runs a synchronous model build with the given initialisation settings (restored afterwards). */
export function withInitSettings<T>(settings: InitSettings, build: () => T): T {
  const saved = initSettings;
  const savedCounter = initCounter;
  initSettings = settings;
  initCounter = 0;
  try {
    return build();
  } finally {
    initSettings = saved;
    initCounter = savedCounter;
  }
}

function nextSeed(): number | undefined {
  initCounter += 1;
  return initSettings.seed === undefined ? undefined : initSettings.seed * 7919 + initCounter;
}

/** Kaiming-uniform (fan-in, gain √2) for weights followed by ReLU-like activations. */
export function kernelInitializer(): Initializer {
  if (initSettings.mode === 'zeros') return tf.initializers.zeros();
  return tf.initializers.varianceScaling({ scale: 2, mode: 'fanIn', distribution: 'uniform', seed: nextSeed() });
}

/** Glorot-uniform, as smp initialises segmentation heads. */
export function headInitializer(): Initializer {
  if (initSettings.mode === 'zeros') return tf.initializers.zeros();
  return tf.initializers.glorotUniform({ seed: nextSeed() });
}

// ---------------------------------------------------------------------------------------------------------
// Layer builder: name → layer cache
// ---------------------------------------------------------------------------------------------------------

export class LayerBuilder {
  private cache = new Map<string, tf.layers.Layer>();

  /** `prefix` is prepended to every layer name (e.g. 'encoder', 'decoder'). */
  constructor(readonly prefix: string) {}

  /** Full layer name for a local name. */
  fullName(name: string): string {
    return this.prefix ? `${this.prefix}_${name}` : name;
  }

  /** Returns the layer with this local name, creating it on first use. */
  layer<L extends tf.layers.Layer>(name: string, create: (fullName: string) => L): L {
    const full = this.fullName(name);
    const existing = this.cache.get(full);
    if (existing) return existing as L;
    const created = create(full);
    this.cache.set(full, created);
    return created;
  }

  /** Applies a (cached) layer to one or more symbolic tensors. */
  apply(name: string, create: (fullName: string) => tf.layers.Layer, input: Sym | Sym[]): Sym {
    return this.layer(name, create).apply(input) as Sym;
  }

  /** A builder whose names nest under this one's (`<prefix>_<sub>_…`), sharing the cache. */
  scope(sub: string): LayerBuilder {
    const child = new LayerBuilder(this.fullName(sub));
    child.cache = this.cache;
    return child;
  }

  /** Every layer created so far (through this builder or its scopes). */
  layers(): tf.layers.Layer[] {
    return [...this.cache.values()];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Custom layers
// ---------------------------------------------------------------------------------------------------------

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
function samePadding(n: number, kernelSize: number, stride: number, dilation: number): [number, number] {
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
    this.kernelInit = args.kernelInitializer ?? kernelInitializer();
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

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
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
      const y = dilation > 1 ? this.atrous(x, kernel, dilation, pads) : this.padded(x, kernel, pads);
      return this.bias ? tf.add(y, this.bias.read()) : y;
    });
  }

  /** Undilated: TF's 'same' where the padding is the same as it, else explicit zero padding and 'valid'. */
  private padded(x: tf.Tensor4D, kernel: tf.Tensor4D, [top, bottom, left, right]: Pads): tf.Tensor4D {
    const [, h, w] = x.shape;
    const k = kernel.shape[0];
    const [sameTop, sameBottom] = samePadding(h, k, this.stride, 1);
    const [sameLeft, sameRight] = samePadding(w, k, this.stride, 1);
    if (top === sameTop && bottom === sameBottom && left === sameLeft && right === sameRight) {
      return this.convolve(x, kernel, this.stride, 'same');
    }
    const xp = top + bottom + left + right > 0 ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]) : x;
    return this.convolve(xp, kernel, this.stride, 'valid');
  }

  /** Dilated: the padding goes into space-to-batch, rounded up to a multiple of the rate and cropped after. */
  private atrous(x: tf.Tensor4D, kernel: tf.Tensor4D, d: number, [top, bottom, left, right]: Pads): tf.Tensor4D {
    const [, h, w] = x.shape;
    const extraH = (d - ((h + top + bottom) % d)) % d;
    const extraW = (d - ((w + left + right) % d)) % d;
    const phases = tf.spaceToBatchND(x, [d, d], [[top, bottom + extraH], [left, right + extraW]]) as tf.Tensor4D;
    const y = tf.batchToSpaceND(this.convolve(phases, kernel, 1, 'valid'), [d, d], [[0, extraH], [0, extraW]]) as tf.Tensor4D;
    return this.stride === 1 ? y : subsample(y, this.stride);
  }

  private convolve(x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, pad: 'same' | 'valid'): tf.Tensor4D {
    const inChannels = x.shape[3];
    if (this.groups === 1) return tf.conv2d(x, kernel, stride, pad);
    if (this.groups === inChannels) {
      // Depthwise (with channel multiplier): PyTorch's output o = i · multiplier + j is TF's depthwise layout.
      const k = kernel.shape[0];
      const depthwiseKernel = tf.reshape(kernel, [k, k, inChannels, this.filters / inChannels]) as tf.Tensor4D;
      return tf.depthwiseConv2d(x, depthwiseKernel, stride, pad);
    }
    if (tf.getBackend() === 'tensorflow') return nativeGroupedConv2d(x, kernel, stride, pad);
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
tf.serialization.registerClass(TorchConv2d);

/**
 * Checkpoints saved before the encoder families' FlexConv2D merged into TorchConv2d name it 'EchoFlexConv2D'
 * (config: strides, dilationRate, padding 'torch' | 'same'); the constructor reads that config, so they load.
 */
class LegacyFlexConv2D extends TorchConv2d {
  static override className = 'EchoFlexConv2D';
}
tf.serialization.registerClass(LegacyFlexConv2D);

/** `nn.GroupNorm(groups, C)` with eps 1e-5 and per-channel affine parameters. */
export class GroupNorm extends tf.layers.Layer {
  static className = 'GroupNorm';
  readonly groups: number;
  readonly epsilon: number;
  private gamma?: tf.LayerVariable;
  private beta?: tf.LayerVariable;

  constructor(args: { name?: string; groups: number; epsilon?: number }) {
    super({ name: args.name });
    this.groups = args.groups;
    this.epsilon = args.epsilon ?? 1e-5;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const channels = (inputShape as tf.Shape)[3] as number;
    if (channels % this.groups !== 0) throw new Error(`${this.name}: ${channels} channels not divisible by ${this.groups} groups.`);
    this.gamma = this.addWeight('gamma', [channels], 'float32', tf.initializers.ones());
    this.beta = this.addWeight('beta', [channels], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const [n, h, w, c] = x.shape;
      const grouped = x.reshape([n, h, w, this.groups, c / this.groups]);
      const { mean, variance } = tf.moments(grouped, [1, 2, 4], true);
      const normalised = grouped.sub(mean).div(variance.add(this.epsilon).sqrt()).reshape([n, h, w, c]);
      return normalised.mul(this.gamma!.read()).add(this.beta!.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), groups: this.groups, epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(GroupNorm);

/** Averaging matrix of `nn.AdaptiveAvgPool2d` along one axis: bin i covers [⌊i·n/out⌋, ⌈(i+1)·n/out⌉). */
function adaptiveMatrix(inSize: number, outSize: number): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < outSize; i++) {
    const start = Math.floor((i * inSize) / outSize);
    const end = Math.ceil(((i + 1) * inSize) / outSize);
    rows.push(Array.from({ length: inSize }, (_, j) => (j >= start && j < end ? 1 / (end - start) : 0)));
  }
  return rows;
}

/** `nn.AdaptiveAvgPool2d((h, w))`; input spatial size must be static. */
export class AdaptiveAvgPool2d extends tf.layers.Layer {
  static className = 'AdaptiveAvgPool2d';
  readonly outputSize: [number, number];

  constructor(args: { name?: string; outputSize: [number, number] }) {
    super({ name: args.name });
    this.outputSize = args.outputSize;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = inputShape as tf.Shape;
    return [s[0], this.outputSize[0], this.outputSize[1], s[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const [n, h, w, c] = x.shape;
      const [p, q] = this.outputSize;
      if (p === 1 && q === 1) return tf.mean(x, [1, 2], true);
      // Rows: [P,H] · [N,H,W·C]; columns: [Q,W] · [N,W,P·C] after moving W to the front.
      const rows = tf.tensor2d(adaptiveMatrix(h, p));
      const cols = tf.tensor2d(adaptiveMatrix(w, q));
      const pooledRows = tf.matMul(rows.expandDims(0).tile([n, 1, 1]) as tf.Tensor3D, x.reshape([n, h, w * c]) as tf.Tensor3D);
      const byCols = pooledRows.reshape([n, p, w, c]).transpose([0, 2, 1, 3]).reshape([n, w, p * c]) as tf.Tensor3D;
      const pooled = tf.matMul(cols.expandDims(0).tile([n, 1, 1]) as tf.Tensor3D, byCols);
      return pooled.reshape([n, q, p, c]).transpose([0, 2, 1, 3]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), outputSize: this.outputSize };
  }
}
tf.serialization.registerClass(AdaptiveAvgPool2d);

/** `F.interpolate(mode='bilinear')` to a fixed size; `alignCorners` as PyTorch's flag. */
export class ResizeBilinear extends tf.layers.Layer {
  static className = 'ResizeBilinear';
  readonly size: [number, number];
  readonly alignCorners: boolean;

  constructor(args: { name?: string; size: [number, number]; alignCorners: boolean }) {
    super({ name: args.name });
    this.size = args.size;
    this.alignCorners = args.alignCorners;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = inputShape as tf.Shape;
    return [s[0], this.size[0], this.size[1], s[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      if (x.shape[1] === this.size[0] && x.shape[2] === this.size[1]) return tf.clone(x);
      if (x.shape[1] === 1 && x.shape[2] === 1) return tf.tile(x, [1, this.size[0], this.size[1], 1]);
      // PyTorch align_corners=False is TF's half-pixel-centres convention.
      return tf.image.resizeBilinear(x, this.size, this.alignCorners, !this.alignCorners);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), size: this.size, alignCorners: this.alignCorners };
  }
}
tf.serialization.registerClass(ResizeBilinear);

/**
 * Softmax across `radix` branches (timm's RadixSoftmax; also SK's softmax over paths with cardinality 1).
 * Input channels are ordered (cardinality, radix, c); output channels (radix, cardinality, c).
 * With radix 1 it is a sigmoid.
 */
export class RadixSoftmax extends tf.layers.Layer {
  static className = 'RadixSoftmax';
  readonly radix: number;
  readonly cardinality: number;

  constructor(args: { name?: string; radix: number; cardinality: number }) {
    super({ name: args.name });
    this.radix = args.radix;
    this.cardinality = args.cardinality;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      if (this.radix === 1) return tf.sigmoid(x);
      const [n, h, w, c] = x.shape;
      // tfjs softmax works on the last axis only: move radix last, then reorder to (radix, cardinality, c).
      const split = x.reshape([n * h * w, this.cardinality, this.radix, c / (this.cardinality * this.radix)]);
      return tf.softmax(split.transpose([0, 1, 3, 2])).transpose([0, 3, 1, 2]).reshape([n, h, w, c]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), radix: this.radix, cardinality: this.cardinality };
  }
}
tf.serialization.registerClass(RadixSoftmax);

/**
 * Sums `radix` channel blocks ([N,H,W,radix·C] ordered radix-major → [N,H,W,C]); with a second input
 * (attention [N,1,1,radix·C]) it is the attention-weighted sum Σ_r x_r·a_r.
 */
export class RadixSum extends tf.layers.Layer {
  static className = 'RadixSum';
  readonly radix: number;

  constructor(args: { name?: string; radix: number }) {
    super({ name: args.name });
    this.radix = args.radix;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [s[0], s[1], s[2], (s[3] as number) / this.radix];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const list = Array.isArray(inputs) ? inputs : [inputs];
      const x = list[0] as tf.Tensor4D;
      const weighted = list.length > 1 ? x.mul(list[1]) : x;
      const [n, h, w, c] = x.shape;
      return weighted.reshape([n, h, w, this.radix, c / this.radix]).sum(3);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), radix: this.radix };
  }
}
tf.serialization.registerClass(RadixSum);

// ---------------------------------------------------------------------------------------------------------
// Functional helpers
// ---------------------------------------------------------------------------------------------------------

export type Activation = 'relu' | 'sigmoid' | 'none';

export interface ConvOptions {
  filters: number;
  kernelSize: number;
  stride?: number;
  /** Symmetric padding per side, 'torch' (default: dilation·(k−1)/2) or TF 'same'. */
  padding?: number | PaddingMode;
  dilation?: number;
  groups?: number;
  bias?: boolean;
  kernelInitializer?: () => Initializer;
}

export function conv2d(b: LayerBuilder, x: Sym, name: string, o: ConvOptions): Sym {
  return b.apply(
    name,
    (full) =>
      new TorchConv2d({
        name: full,
        filters: o.filters,
        kernelSize: o.kernelSize,
        stride: o.stride,
        padding: o.padding,
        dilation: o.dilation,
        groups: o.groups,
        useBias: o.bias,
        kernelInitializer: o.kernelInitializer ? o.kernelInitializer() : undefined,
      }),
    x,
  );
}

/** `nn.BatchNorm2d` (eps 1e-5, momentum 0.1): γ and β train, moving statistics do not. */
export function batchNorm(b: LayerBuilder, x: Sym, name: string): Sym {
  return b.apply(name, (full) => tf.layers.batchNormalization({ name: full, axis: 3, momentum: 0.9, epsilon: 1e-5 }), x);
}

export function groupNorm(b: LayerBuilder, x: Sym, name: string, groups: number): Sym {
  return b.apply(name, (full) => new GroupNorm({ name: full, groups }), x);
}

export function activation(b: LayerBuilder, x: Sym, name: string, act: Activation): Sym {
  if (act === 'none') return x;
  return b.apply(name, (full) => tf.layers.activation({ name: full, activation: act }), x);
}

export interface ConvBnActOptions extends ConvOptions {
  act?: Activation;
  /** 'bn' (default), 'gn' (GroupNorm with `normGroups`) or 'none'. */
  norm?: 'bn' | 'gn' | 'none';
  normGroups?: number;
}

/**
 * Conv → norm → activation, the unit every torch model repeats. Layer names: `<name>_conv`, `<name>_bn`/`_gn`,
 * `<name>_act`. Bias defaults to on only when there is no norm (smp's Conv2dReLU rule).
 */
export function convBnAct(b: LayerBuilder, x: Sym, name: string, o: ConvBnActOptions): Sym {
  const norm = o.norm ?? 'bn';
  let y = conv2d(b, x, `${name}_conv`, { ...o, bias: o.bias ?? norm === 'none' });
  if (norm === 'bn') y = batchNorm(b, y, `${name}_bn`);
  else if (norm === 'gn') y = groupNorm(b, y, `${name}_gn`, o.normGroups ?? 32);
  return activation(b, y, `${name}_act`, o.act ?? 'relu');
}

export function add(b: LayerBuilder, xs: Sym[], name: string): Sym {
  return b.apply(name, (full) => tf.layers.add({ name: full }), xs);
}

export function multiply(b: LayerBuilder, xs: Sym[], name: string): Sym {
  return b.apply(name, (full) => tf.layers.multiply({ name: full }), xs);
}

export function concat(b: LayerBuilder, xs: Sym[], name: string): Sym {
  if (xs.length === 1) return xs[0];
  return b.apply(name, (full) => tf.layers.concatenate({ name: full, axis: -1 }), xs);
}

/** `nn.MaxPool2d(k, stride, padding)`; zero padding equals PyTorch's −∞ padding for post-ReLU inputs. */
export function maxPool(b: LayerBuilder, x: Sym, name: string, o: { poolSize: number; stride: number; padding?: number; padEnd?: number }): Sym {
  const p = o.padding ?? 0;
  const end = p + (o.padEnd ?? 0);
  const padded = p > 0 || end > 0
    ? b.apply(`${name}_pad`, (full) => tf.layers.zeroPadding2d({ name: full, padding: [[p, end], [p, end]] }), x)
    : x;
  return b.apply(name, (full) => tf.layers.maxPooling2d({ name: full, poolSize: o.poolSize, strides: o.stride, padding: 'valid' }), padded);
}

/** `nn.AvgPool2d(k, stride, padding)` with PyTorch's default count_include_pad=True. */
export function avgPool(b: LayerBuilder, x: Sym, name: string, o: { poolSize: number; stride: number; padding?: number }): Sym {
  const p = o.padding ?? 0;
  const padded = p > 0 ? b.apply(`${name}_pad`, (full) => tf.layers.zeroPadding2d({ name: full, padding: [[p, p], [p, p]] }), x) : x;
  return b.apply(name, (full) => tf.layers.averagePooling2d({ name: full, poolSize: o.poolSize, strides: o.stride, padding: 'valid' }), padded);
}

export function adaptiveAvgPool(b: LayerBuilder, x: Sym, name: string, size: number | [number, number]): Sym {
  const outputSize: [number, number] = typeof size === 'number' ? [size, size] : size;
  return b.apply(name, (full) => new AdaptiveAvgPool2d({ name: full, outputSize }), x);
}

/** Nearest-neighbour ×factor (`F.interpolate(scale_factor, mode='nearest')`). */
export function upsampleNearest(b: LayerBuilder, x: Sym, name: string, factor: number): Sym {
  if (factor === 1) return x;
  return b.apply(name, (full) => tf.layers.upSampling2d({ name: full, size: [factor, factor] }), x);
}

export function resizeBilinear(b: LayerBuilder, x: Sym, name: string, size: [number, number], alignCorners = true): Sym {
  return b.apply(name, (full) => new ResizeBilinear({ name: full, size, alignCorners }), x);
}

export function spatialSize(x: Sym): [number, number] {
  const [, h, w] = x.shape;
  if (typeof h !== 'number' || typeof w !== 'number') throw new Error('The zoo needs a static input height and width.');
  return [h, w];
}

export function channelsOf(x: Sym): number {
  return x.shape[3] as number;
}

export function mcDropout(b: LayerBuilder, x: Sym, name: string, rate: number): Sym {
  return b.apply(name, (full) => new MCDropout({ name: full, rate }), x);
}

/**
 * Squeeze-and-excitation as in pretrainedmodels' SEModule: global pool → 1×1 conv (bias) → ReLU →
 * 1×1 conv (bias) → sigmoid, multiplied onto the input.
 */
export function squeezeExcite(b: LayerBuilder, x: Sym, name: string, reducedChannels: number): Sym {
  const channels = channelsOf(x);
  let s = adaptiveAvgPool(b, x, `${name}_pool`, 1);
  s = conv2d(b, s, `${name}_fc1`, { filters: reducedChannels, kernelSize: 1, bias: true });
  s = activation(b, s, `${name}_relu`, 'relu');
  s = conv2d(b, s, `${name}_fc2`, { filters: channels, kernelSize: 1, bias: true });
  s = activation(b, s, `${name}_sigmoid`, 'sigmoid');
  return multiply(b, [x, s], `${name}_scale`);
}

export interface SplitAttentionOptions {
  outChannels: number;
  kernelSize?: number;
  stride?: number;
  dilation?: number;
  cardinality: number;
  radix: number;
  attnChannels: number;
}

/**
 * timm's SplitAttn (ResNeSt): grouped conv to radix·C channels → BN → ReLU; attention from the radix-summed
 * map (pool → grouped 1×1 → BN → ReLU → grouped 1×1 → radix softmax); output Σ_r x_r·a_r.
 */
export function splitAttention(b: LayerBuilder, x: Sym, name: string, o: SplitAttentionOptions): Sym {
  const mid = o.outChannels * o.radix;
  let y = conv2d(b, x, `${name}_conv`, {
    filters: mid,
    kernelSize: o.kernelSize ?? 3,
    stride: o.stride,
    dilation: o.dilation,
    groups: o.cardinality * o.radix,
  });
  y = batchNorm(b, y, `${name}_bn0`);
  y = activation(b, y, `${name}_act0`, 'relu');
  let gap = o.radix > 1 ? b.apply(`${name}_gapsum`, (full) => new RadixSum({ name: full, radix: o.radix }), y) : y;
  gap = adaptiveAvgPool(b, gap, `${name}_pool`, 1);
  gap = conv2d(b, gap, `${name}_fc1`, { filters: o.attnChannels, kernelSize: 1, groups: o.cardinality, bias: true });
  gap = batchNorm(b, gap, `${name}_bn1`);
  gap = activation(b, gap, `${name}_act1`, 'relu');
  let attn = conv2d(b, gap, `${name}_fc2`, { filters: mid, kernelSize: 1, groups: o.cardinality, bias: true });
  attn = b.apply(`${name}_rsoftmax`, (full) => new RadixSoftmax({ name: full, radix: o.radix, cardinality: o.cardinality }), attn);
  if (o.radix === 1) return multiply(b, [y, attn], `${name}_scale`);
  return b.apply(`${name}_sum`, (full) => new RadixSum({ name: full, radix: o.radix }), [y, attn]);
}

export interface SelectiveKernelOptions {
  outChannels: number;
  stride?: number;
  /** Base dilation; path i uses dilation·(i+1) (timm's keep_3x3: a 5×5 becomes a dilated 3×3). */
  dilation?: number;
  /** smp's make_dilated sets every conv of a dilated stage to the same rate: pass it here to override. */
  fixedDilation?: number;
  groups?: number;
  attnChannels: number;
  /** timm's split_input: each path sees its own slice of the input channels. */
  splitInput: boolean;
  paths?: number;
}

/**
 * timm's SelectiveKernel: parallel 3×3 conv-BN-ReLU paths (dilations 1 and 2), fused by attention
 * (sum → pool → 1×1 → BN → ReLU → 1×1 → softmax over paths) and summed.
 */
export function selectiveKernel(b: LayerBuilder, x: Sym, name: string, o: SelectiveKernelOptions): Sym {
  const numPaths = o.paths ?? 2;
  const base = o.dilation ?? 1;
  let inputs: Sym[] = Array.from({ length: numPaths }, () => x);
  if (o.splitInput) {
    const perPath = channelsOf(x) / numPaths;
    if (!Number.isInteger(perPath)) throw new Error(`${name}: ${channelsOf(x)} channels cannot split into ${numPaths} paths.`);
    inputs = Array.from({ length: numPaths }, (_, i) =>
      b.apply(`${name}_split${i}`, (full) => new ChannelSlice({ name: full, start: i * perPath, size: perPath }), x),
    );
  }
  const groups = Math.min(o.outChannels, o.groups ?? 1);
  const paths = inputs.map((input, i) =>
    convBnAct(b, input, `${name}_path${i}`, {
      filters: o.outChannels,
      kernelSize: 3,
      stride: o.stride,
      dilation: o.fixedDilation ?? base * (i + 1),
      groups,
    }),
  );
  const stacked = concat(b, paths, `${name}_stack`);
  let attn = b.apply(`${name}_attnsum`, (full) => new RadixSum({ name: full, radix: numPaths }), stacked);
  attn = adaptiveAvgPool(b, attn, `${name}_pool`, 1);
  attn = conv2d(b, attn, `${name}_fc_reduce`, { filters: o.attnChannels, kernelSize: 1 });
  attn = batchNorm(b, attn, `${name}_attn_bn`);
  attn = activation(b, attn, `${name}_attn_act`, 'relu');
  attn = conv2d(b, attn, `${name}_fc_select`, { filters: o.outChannels * numPaths, kernelSize: 1 });
  attn = b.apply(`${name}_softmax`, (full) => new RadixSoftmax({ name: full, radix: numPaths, cardinality: 1 }), attn);
  return b.apply(`${name}_sum`, (full) => new RadixSum({ name: full, radix: numPaths }), [stacked, attn]);
}

/** Channels [start, start + size) of an NHWC tensor. */
export class ChannelSlice extends tf.layers.Layer {
  static className = 'ChannelSlice';
  readonly start: number;
  readonly size: number;

  constructor(args: { name?: string; start: number; size: number }) {
    super({ name: args.name });
    this.start = args.start;
    this.size = args.size;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = inputShape as tf.Shape;
    return [s[0], s[1], s[2], this.size];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    return tf.slice(x, [0, 0, 0, this.start], [-1, -1, -1, this.size]);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), start: this.start, size: this.size };
  }
}
tf.serialization.registerClass(ChannelSlice);

/** timm's make_divisible: round to a multiple of `divisor`, at least `minValue`, never 10 % below v. */
export function makeDivisible(v: number, divisor = 8, minValue?: number): number {
  const min = minValue ?? divisor;
  let result = Math.max(min, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (result < 0.9 * v) result += divisor;
  return result;
}

/** Trainable parameter count of a model (BN moving statistics excluded, as in PyTorch). */
export function countTrainableParams(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce((a: number, d) => a * (d as number), 1), 0);
}
