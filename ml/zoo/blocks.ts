/**
 * The zoo's one block library, shared by every encoder and decoder, reproducing PyTorch (segmentation_models_pytorch
 * / torchvision / timm / pretrainedmodels) layer semantics in TensorFlow.js with the custom layers of `ml/layers`.
 *
 * One convention: every block is `block(b, x, name, options)` — the layer builder, the input, the block's local name
 * and its options — and returns the output. The builder prefixes names (`encoder_…`, `decoder_…`) and caches layers
 * by name: applying a block a second time with the same names re-uses the same layers (shared weights), which is
 * how `buildModel` builds the Monte Carlo tail on fresh inputs.
 *
 * Norms use PyTorch's defaults (eps 1e-5, BN momentum 0.1 ≡ Keras 0.9) unless a family's source says otherwise.
 */
import * as tf from '@tensorflow/tfjs';
import { AdaptiveAvgPool2d, ChannelSlice, GroupNorm, HardActivation, MCDropout, RadixSoftmax, RadixSum, ResizeBilinear, TorchConv2d, type Initializer, type PaddingMode } from '../layers';
import { kernelInitializer } from './init';

type Sym = tf.SymbolicTensor;

// ---------------------------------------------------------------------------------------------------------
// Layer builder: name → layer cache
// ---------------------------------------------------------------------------------------------------------

/**
 * Which layer classes and names a family's models are made of. Checkpoints and encoder weight files match weights
 * by layer name, and saved topologies name the classes, so a family keeps the layout its models were first saved
 * with; the two compute the same functions.
 * - 'torch': every convolution is a `TorchConv2d`; batch norm on axis 3; a conv unit is `<name>_conv`, `<name>_bn`
 *   (or `_gn`), `<name>_act`; squeeze-excitation is pretrainedmodels' SEModule (`_pool`, `_fc1`, `_relu`, `_fc2`,
 *   `_sigmoid`). The ResNet families and every decoder.
 * - 'keras': tfjs' stock Conv2D wherever it computes the same function (no groups, no dilation, padding equal to TF
 *   'same'); batch norm on axis −1; a conv unit is `<name>` (the conv), `<name>_bn`, `<name>_<activation>`;
 *   squeeze-excitation is timm's (`_pool` + `_reshape`, `_reduce`, `_<activation>`, `_expand`, `_gate`). DenseNet,
 *   EfficientNet, DPN, RegNet, VGG and MobileNet.
 */
export type LayerLayout = 'torch' | 'keras';

export class LayerBuilder {
  private cache = new Map<string, tf.layers.Layer>();

  /** `prefix` is prepended to every layer name (e.g. 'encoder', 'decoder'). */
  constructor(
    readonly prefix: string,
    readonly layout: LayerLayout = 'torch',
  ) {}

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

  /** A builder whose names nest under this one's (`<prefix>_<sub>_…`), sharing the cache and the layout. */
  scope(sub: string): LayerBuilder {
    const child = new LayerBuilder(this.fullName(sub), this.layout);
    child.cache = this.cache;
    return child;
  }

  /** Every layer created so far (through this builder or its scopes). */
  layers(): tf.layers.Layer[] {
    return [...this.cache.values()];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Convolution, normalisation, activation
// ---------------------------------------------------------------------------------------------------------

/** PyTorch's activations by their tfjs names; 'hardSwish' and 'hardSigmoid' are PyTorch's, not Keras'. */
export type Activation = 'relu' | 'relu6' | 'swish' | 'sigmoid' | 'hardSwish' | 'hardSigmoid' | 'none';

export interface ConvOptions {
  filters: number;
  kernelSize: number;
  stride?: number;
  /** Symmetric padding per side, 'torch' (default: dilation·(k−1)/2) or TF 'same' (the TF-ported encoders). */
  padding?: number | PaddingMode;
  /** Ignored for 1×1 kernels. */
  dilation?: number;
  groups?: number;
  bias?: boolean;
  /** Default: the init scope's Kaiming-uniform (`init.ts`). */
  kernelInitializer?: () => Initializer;
}

/** `nn.Conv2d`: a `TorchConv2d`, or under the 'keras' layout tfjs' Conv2D where that computes the same function. */
export function conv2d(b: LayerBuilder, x: Sym, name: string, o: ConvOptions): Sym {
  const stride = o.stride ?? 1;
  const dilation = o.kernelSize > 1 ? o.dilation ?? 1 : 1;
  const groups = o.groups ?? 1;
  const padding = o.padding ?? 'torch';
  const init = o.kernelInitializer ?? kernelInitializer;
  const stockComputesSame = groups === 1 && dilation === 1 && (stride === 1 || o.kernelSize === 1 || padding === 'same');
  if (b.layout === 'keras' && stockComputesSame) {
    return b.apply(name, (full) => tf.layers.conv2d({
      name: full, filters: o.filters, kernelSize: o.kernelSize, strides: stride, padding: 'same', useBias: o.bias ?? false,
      kernelInitializer: init(),
    }), x);
  }
  return b.apply(name, (full) => new TorchConv2d({
    name: full, filters: o.filters, kernelSize: o.kernelSize, stride, padding, dilation, groups, useBias: o.bias,
    kernelInitializer: init(),
  }), x);
}

export interface BatchNormOptions {
  /** PyTorch's eps: 1e-5 (torchvision, timm), 1e-3 (DPN and the TF ports). */
  epsilon?: number;
  /** Keras momentum = 1 − PyTorch momentum: 0.9 (PyTorch's 0.1), 0.99 for the TF ports. */
  momentum?: number;
}

/** `nn.BatchNorm2d`: γ and β train, moving statistics do not. */
export function batchNorm(b: LayerBuilder, x: Sym, name: string, o: BatchNormOptions = {}): Sym {
  const axis = b.layout === 'keras' ? -1 : 3;
  return b.apply(name, (full) => tf.layers.batchNormalization({ name: full, axis, momentum: o.momentum ?? 0.9, epsilon: o.epsilon ?? 1e-5 }), x);
}

/** `nn.GroupNorm(groups, C)`. */
export function groupNorm(b: LayerBuilder, x: Sym, name: string, groups: number): Sym {
  return b.apply(name, (full) => new GroupNorm({ name: full, groups }), x);
}

/** An activation layer ('none': the input itself). */
export function activation(b: LayerBuilder, x: Sym, name: string, act: Activation): Sym {
  if (act === 'none') return x;
  if (act === 'hardSwish' || act === 'hardSigmoid') return b.apply(name, (full) => new HardActivation({ name: full, kind: act }), x);
  return b.apply(name, (full) => tf.layers.activation({ name: full, activation: act }), x);
}

export interface ConvBnActOptions extends ConvOptions {
  /** Default 'relu'. */
  act?: Activation;
  /** 'bn' (default), 'gn' (GroupNorm with `normGroups`) or 'none'. */
  norm?: 'bn' | 'gn' | 'none';
  normGroups?: number;
  bnEpsilon?: number;
  bnMomentum?: number;
}

/**
 * Conv → norm → activation, the unit every torch model repeats (layer names: see `LayerLayout`). Bias defaults to on
 * only when there is no norm (smp's Conv2dReLU rule).
 */
export function convBnAct(b: LayerBuilder, x: Sym, name: string, o: ConvBnActOptions): Sym {
  const norm = o.norm ?? 'bn';
  const act = o.act ?? 'relu';
  const keras = b.layout === 'keras';
  let y = conv2d(b, x, keras ? name : `${name}_conv`, { ...o, bias: o.bias ?? norm === 'none' });
  if (norm === 'bn') y = batchNorm(b, y, `${name}_bn`, { epsilon: o.bnEpsilon, momentum: o.bnMomentum });
  else if (norm === 'gn') y = groupNorm(b, y, `${name}_gn`, o.normGroups ?? 32);
  return activation(b, y, keras ? `${name}_${act}` : `${name}_act`, act);
}

// ---------------------------------------------------------------------------------------------------------
// Merging, pooling, resizing, slicing
// ---------------------------------------------------------------------------------------------------------

export function add(b: LayerBuilder, xs: Sym[], name: string): Sym {
  return b.apply(name, (full) => tf.layers.add({ name: full }), xs);
}

export function multiply(b: LayerBuilder, xs: Sym[], name: string): Sym {
  return b.apply(name, (full) => tf.layers.multiply({ name: full }), xs);
}

/** Channel concatenation; a single input is returned as it is. */
export function concat(b: LayerBuilder, xs: Sym[], name: string): Sym {
  if (xs.length === 1) return xs[0];
  return b.apply(name, (full) => tf.layers.concatenate({ name: full, axis: -1 }), xs);
}

/**
 * `nn.MaxPool2d(k, stride, padding)`; `padEnd` adds rows and columns at the end (ceil_mode). Zero padding equals
 * PyTorch's −∞ padding only for non-negative inputs: every padded use follows a ReLU.
 */
export function maxPool(b: LayerBuilder, x: Sym, name: string, o: { poolSize: number; stride: number; padding?: number; padEnd?: number }): Sym {
  const p = o.padding ?? 0;
  const end = p + (o.padEnd ?? 0);
  const padded = p > 0 || end > 0
    ? b.apply(`${name}_pad`, (full) => tf.layers.zeroPadding2d({ name: full, padding: [[p, end], [p, end]] }), x)
    : x;
  return b.apply(name, (full) => tf.layers.maxPooling2d({ name: full, poolSize: o.poolSize, strides: o.stride, padding: 'valid' }), padded);
}

/**
 * `nn.AvgPool2d(k, stride, padding)` with PyTorch's default count_include_pad=True; `padEnd` adds zero rows and
 * columns at the end (counted), as timm's AvgPool2dSame(2, 1) does.
 */
export function avgPool(b: LayerBuilder, x: Sym, name: string, o: { poolSize: number; stride: number; padding?: number; padEnd?: number }): Sym {
  const p = o.padding ?? 0;
  const end = p + (o.padEnd ?? 0);
  const padded = p > 0 || end > 0 ? b.apply(`${name}_pad`, (full) => tf.layers.zeroPadding2d({ name: full, padding: [[p, end], [p, end]] }), x) : x;
  return b.apply(name, (full) => tf.layers.averagePooling2d({ name: full, poolSize: o.poolSize, strides: o.stride, padding: 'valid' }), padded);
}

/** `nn.AdaptiveAvgPool2d(size)`. */
export function adaptiveAvgPool(b: LayerBuilder, x: Sym, name: string, size: number | [number, number]): Sym {
  const outputSize: [number, number] = typeof size === 'number' ? [size, size] : size;
  return b.apply(name, (full) => new AdaptiveAvgPool2d({ name: full, outputSize }), x);
}

/** Nearest-neighbour ×factor (`F.interpolate(scale_factor, mode='nearest')`). */
export function upsampleNearest(b: LayerBuilder, x: Sym, name: string, factor: number): Sym {
  if (factor === 1) return x;
  return b.apply(name, (full) => tf.layers.upSampling2d({ name: full, size: [factor, factor] }), x);
}

/** `F.interpolate(size, mode='bilinear', align_corners)`. */
export function resizeBilinear(b: LayerBuilder, x: Sym, name: string, size: [number, number], alignCorners = true): Sym {
  return b.apply(name, (full) => new ResizeBilinear({ name: full, size, alignCorners }), x);
}

/** Channels [start, start + size). */
export function channelSlice(b: LayerBuilder, x: Sym, name: string, start: number, size: number): Sym {
  return b.apply(name, (full) => new ChannelSlice({ name: full, start, size }), x);
}

export function spatialSize(x: Sym): [number, number] {
  const [, h, w] = x.shape;
  if (typeof h !== 'number' || typeof w !== 'number') throw new Error('The zoo needs a static input height and width.');
  return [h, w];
}

export function channelsOf(x: Sym): number {
  const channels = x.shape[x.shape.length - 1];
  if (channels == null) throw new Error(`Tensor ${x.name} has no static channel dimension.`);
  return channels;
}

/** Dropout that Monte Carlo mode keeps stochastic at inference (`ml/layers/mcDropout.ts`). */
export function mcDropout(b: LayerBuilder, x: Sym, name: string, rate: number): Sym {
  return b.apply(name, (full) => new MCDropout({ name: full, rate }), x);
}

// ---------------------------------------------------------------------------------------------------------
// Attention blocks
// ---------------------------------------------------------------------------------------------------------

export interface SqueezeExciteOptions {
  reducedChannels: number;
  /** Between the two 1×1 convs; default 'relu'. */
  act?: Activation;
  /** Default 'sigmoid'; tf_mobilenetv3 uses 'hardSigmoid'. */
  gate?: 'sigmoid' | 'hardSigmoid';
}

/** SE's global average pool to [N, 1, 1, C]: `AdaptiveAvgPool2d(1)`, or under the 'keras' layout stock pooling + reshape. */
function squeeze(b: LayerBuilder, x: Sym, name: string): Sym {
  if (b.layout === 'torch') return adaptiveAvgPool(b, x, `${name}_pool`, 1);
  const pooled = b.apply(`${name}_pool`, (full) => tf.layers.globalAveragePooling2d({ name: full }), x);
  return b.apply(`${name}_reshape`, (full) => tf.layers.reshape({ name: full, targetShape: [1, 1, channelsOf(x)] }), pooled);
}

/**
 * Squeeze-and-excitation: global pool → 1×1 conv (bias) → act → 1×1 conv (bias) → gate, multiplied onto the input;
 * pretrainedmodels' SEModule and timm's / lukemelas' SqueezeExcite alike (layer names: see `LayerLayout`).
 */
export function squeezeExcite(b: LayerBuilder, x: Sym, name: string, o: SqueezeExciteOptions): Sym {
  const act = o.act ?? 'relu';
  const gate = o.gate ?? 'sigmoid';
  const [reduce, expand, gateName] = b.layout === 'keras' ? ['reduce', 'expand', 'gate'] : ['fc1', 'fc2', gate];
  let s = squeeze(b, x, name);
  s = conv2d(b, s, `${name}_${reduce}`, { filters: o.reducedChannels, kernelSize: 1, bias: true });
  s = activation(b, s, `${name}_${act}`, act);
  s = conv2d(b, s, `${name}_${expand}`, { filters: channelsOf(x), kernelSize: 1, bias: true });
  s = activation(b, s, `${name}_${gateName}`, gate);
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
  paths?: number;
}

/**
 * timm's SelectiveKernel with split_input (its default, and what smp's SK encoders use): each of the parallel 3×3
 * conv-BN-ReLU paths (dilations 1 and 2) sees its own slice of the input channels; the paths are fused by attention
 * (sum → pool → 1×1 → BN → ReLU → 1×1 → softmax over paths) and summed.
 */
export function selectiveKernel(b: LayerBuilder, x: Sym, name: string, o: SelectiveKernelOptions): Sym {
  const numPaths = o.paths ?? 2;
  const base = o.dilation ?? 1;
  const perPath = channelsOf(x) / numPaths;
  if (!Number.isInteger(perPath)) throw new Error(`${name}: ${channelsOf(x)} channels cannot split into ${numPaths} paths.`);
  const inputs = Array.from({ length: numPaths }, (_, i) => channelSlice(b, x, `${name}_split${i}`, i * perPath, perPath));
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

/** Trainable parameter count of a model (BN moving statistics excluded, as in PyTorch). */
export function countTrainableParams(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce((a: number, d) => a * (d as number), 1), 0);
}
