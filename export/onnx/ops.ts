/**
 * One converter per tfjs layer class: the ONNX nodes that compute what the layer's `call` computes at inference.
 *
 * Layout: the graph runs in NCHW (ONNX's Conv, pooling and Resize layout). Every rank-4 value is held as NCHW, so
 * a tfjs shape [N, H, W, C] is the ONNX tensor [N, C, H, W]; values of other ranks ([N, C] after global pooling) are
 * held as tfjs has them. graph.ts transposes the model's NHWC input once and its output back once, so the `.onnx`
 * file takes and returns what the tfjs model does.
 *
 * Padding is written out per side as the layer computes it ('same' pads strided convolutions asymmetrically, the
 * extra row and column at the end), dropout of every kind is the identity (the exported model is the deterministic
 * one), and a class without a converter throws an error naming it.
 */
import * as tf from '@tensorflow/tfjs';
import { adaptiveMatrix, samePadding } from '../../ml/layers';
import type { PartialConv } from '../../ml/zoo/mcSplit';
import type { GraphBuilder } from './builder';

/** A value of the ONNX graph: its name and the tfjs shape of the tensor it holds (see the layout above). */
export interface OnnxValue {
  name: string;
  shape: tf.Shape;
}

/** What a converter gets: the builder, the layer, its input values and the tfjs shape of its output. */
export interface ConvertArgs {
  g: GraphBuilder;
  layer: tf.layers.Layer;
  inputs: OnnxValue[];
  outputShape: tf.Shape;
}

type Converter = (args: ConvertArgs) => string;

/** NHWC axis → the axis of the NCHW tensor holding it. */
const NCHW_AXIS = [0, 2, 3, 1];

/** The ONNX axis of a tfjs axis (negative counts from the end) of a tensor of `rank`. */
function onnxAxis(axis: number, rank: number): number {
  const positive = axis < 0 ? axis + rank : axis;
  return rank === 4 ? NCHW_AXIS[positive] : positive;
}

type Config = Record<string, unknown>;

function config(layer: tf.layers.Layer): Config {
  return layer.getConfig() as Config;
}

/** A weight of the layer by its short name ('kernel', 'moving_mean', …), as values and shape. */
function weight(layer: tf.layers.Layer, shortName: string): { values: Float32Array; shape: number[] } {
  const index = layer.weights.findIndex((w) => w.originalName.split('/').pop() === shortName);
  if (index < 0) throw new Error(`ONNX export: layer '${layer.name}' (${layer.getClassName()}) has no weight '${shortName}'`);
  const tensor = layer.getWeights()[index];
  return { values: tensor.dataSync() as Float32Array, shape: tensor.shape };
}

function hasWeight(layer: tf.layers.Layer, shortName: string): boolean {
  return layer.weights.some((w) => w.originalName.split('/').pop() === shortName);
}

/** `values` of `shape` transposed by `perm` (a kernel to ONNX's layout). */
function transposed(values: Float32Array, shape: number[], perm: number[]): { values: Float32Array; shape: number[] } {
  return tf.tidy(() => {
    const t = tf.transpose(tf.tensor(values, shape), perm);
    return { values: t.dataSync() as Float32Array, shape: t.shape };
  });
}

/** Static spatial size [H, W] of a rank-4 value. */
function spatial(value: OnnxValue, layer: tf.layers.Layer): [number, number] {
  const [, h, w] = value.shape;
  if (value.shape.length !== 4 || typeof h !== 'number' || typeof w !== 'number') {
    throw new Error(`ONNX export: layer '${layer.name}' (${layer.getClassName()}) needs a static [N, H, W, C] input, got [${value.shape.join(', ')}]`);
  }
  return [h, w];
}

/** ONNX pads [top, left, bottom, right] of TF's 'same' or 'valid' for a k×k window. */
function windowPads(padding: unknown, [h, w]: [number, number], kernel: [number, number], strides: [number, number], dilations: [number, number]): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding !== 'same') throw new Error(`ONNX export: padding '${String(padding)}' is not supported`);
  const [top, bottom] = samePadding(h, kernel[0], strides[0], dilations[0]);
  const [left, right] = samePadding(w, kernel[1], strides[1], dilations[1]);
  return [top, left, bottom, right];
}

function pair(value: unknown): [number, number] {
  return Array.isArray(value) ? [Number(value[0]), Number(value[1])] : [Number(value), Number(value)];
}

/** A Keras activation by name, applied to `x`. */
function activation(g: GraphBuilder, name: string, x: OnnxValue, fn: string, axis = -1): string {
  switch (fn) {
    case 'linear': return x.name;
    case 'relu': return g.node('Relu', [x.name], name);
    case 'relu6': return g.node('Clip', [x.name, g.floats(`${name}_min`, [0], []), g.floats(`${name}_max`, [6], [])], name);
    case 'sigmoid': return g.node('Sigmoid', [x.name], name);
    case 'tanh': return g.node('Tanh', [x.name], name);
    case 'elu': return g.node('Elu', [x.name], name);
    case 'selu': return g.node('Selu', [x.name], name);
    case 'softplus': return g.node('Softplus', [x.name], name);
    case 'softsign': return g.node('Softsign', [x.name], name);
    // tfjs' swish is x · sigmoid(x).
    case 'swish': return g.node('Mul', [x.name, g.node('Sigmoid', [x.name], `${name}_sigmoid`)], name);
    case 'softmax': return g.node('Softmax', [x.name], name, { axis: onnxAxis(axis, x.shape.length) });
    default: throw new Error(`ONNX export: activation '${fn}' has no ONNX mapping`);
  }
}

/** Conv from a [kh, kw, in / groups, out] kernel (Keras and TorchConv2d share the layout). */
function conv(g: GraphBuilder, layer: tf.layers.Layer, x: OnnxValue, opts: { kernel: [number, number]; strides: [number, number]; dilations: [number, number]; pads: number[]; group: number; bias: boolean }): string {
  const kernel = weight(layer, 'kernel');
  const w = transposed(kernel.values, kernel.shape, [3, 2, 0, 1]);
  const inputs = [x.name, g.floats(`${layer.name}_W`, w.values, w.shape)];
  if (opts.bias) {
    const b = weight(layer, 'bias');
    inputs.push(g.floats(`${layer.name}_B`, b.values, b.shape));
  }
  return g.node('Conv', inputs, layer.name, {
    kernel_shape: opts.kernel, strides: opts.strides, dilations: opts.dilations, pads: opts.pads, group: opts.group,
  });
}

/** The zoo's `nn.Conv2d` (ml/layers/torchConv2d.ts): numeric or TF 'same' padding, groups, dilation. */
const torchConv2d: Converter = ({ g, layer, inputs: [x] }) => {
  const c = config(layer);
  const k = Number(c.kernelSize);
  const stride = Number(c.stride);
  // The layer ignores the dilation of a 1×1 kernel (it has no taps to spread).
  const dilation = k > 1 ? Number(c.dilation) : 1;
  const pads = c.padding === 'same'
    ? windowPads('same', spatial(x, layer), [k, k], [stride, stride], [dilation, dilation])
    : [0, 0, 0, 0].fill(Number(c.padding));
  return conv(g, layer, x, { kernel: [k, k], strides: [stride, stride], dilations: [dilation, dilation], pads, group: Number(c.groups), bias: Boolean(c.useBias) });
};

function kerasConv(depthwise: boolean): Converter {
  return ({ g, layer, inputs: [x] }) => {
    const c = config(layer);
    const kernel = pair(c.kernelSize);
    const strides = pair(c.strides);
    const dilations = pair(c.dilationRate ?? 1);
    const pads = windowPads(c.padding, spatial(x, layer), kernel, strides, dilations);
    let y: string;
    if (depthwise) {
      // [kh, kw, C, multiplier] → [C · multiplier, 1, kh, kw], one group per input channel (output c·m + j, as TF).
      const k = weight(layer, 'depthwise_kernel');
      const [kh, kw, channels, multiplier] = k.shape;
      const w = transposed(k.values, k.shape, [2, 3, 0, 1]);
      const inputs = [x.name, g.floats(`${layer.name}_W`, w.values, [channels * multiplier, 1, kh, kw])];
      if (c.useBias) {
        const b = weight(layer, 'bias');
        inputs.push(g.floats(`${layer.name}_B`, b.values, b.shape));
      }
      y = g.node('Conv', inputs, layer.name, { kernel_shape: kernel, strides, dilations, pads, group: channels });
    } else {
      y = conv(g, layer, x, { kernel, strides, dilations, pads, group: 1, bias: Boolean(c.useBias) });
    }
    return activation(g, `${layer.name}_act`, { name: y, shape: x.shape }, String(c.activation ?? 'linear'));
  };
}

/** Keras Conv2DTranspose: kernel [kh, kw, out, in] → ONNX [in, out, kh, kw]; 'same' pads as the forward conv. */
const conv2dTranspose: Converter = ({ g, layer, inputs: [x], outputShape }) => {
  const c = config(layer);
  const kernelSize = pair(c.kernelSize);
  const strides = pair(c.strides);
  const [h, w] = spatial(x, layer);
  const [outH, outW] = [outputShape[1] as number, outputShape[2] as number];
  const pads = windowPads(c.padding, [outH, outW], kernelSize, strides, [1, 1]);
  const onnxH = strides[0] * (h - 1) + kernelSize[0] - pads[0] - pads[2];
  const onnxW = strides[1] * (w - 1) + kernelSize[1] - pads[1] - pads[3];
  const kernel = weight(layer, 'kernel');
  const wt = transposed(kernel.values, kernel.shape, [3, 2, 0, 1]);
  const inputs = [x.name, g.floats(`${layer.name}_W`, wt.values, wt.shape)];
  if (c.useBias) {
    const b = weight(layer, 'bias');
    inputs.push(g.floats(`${layer.name}_B`, b.values, b.shape));
  }
  const y = g.node('ConvTranspose', inputs, layer.name, {
    kernel_shape: kernelSize, strides, pads, output_padding: [outH - onnxH, outW - onnxW],
  });
  return activation(g, `${layer.name}_act`, { name: y, shape: outputShape }, String(c.activation ?? 'linear'));
};

const batchNormalization: Converter = ({ g, layer, inputs: [x] }) => {
  const c = config(layer);
  const axis = Array.isArray(c.axis) ? Number(c.axis[0]) : Number(c.axis);
  if (onnxAxis(axis, x.shape.length) !== 1) throw new Error(`ONNX export: BatchNormalization '${layer.name}' normalises axis ${axis}, not the channels`);
  const channels = x.shape[x.shape.length - 1] as number;
  const param = (short: string, fallback: number) => {
    if (hasWeight(layer, short)) return g.floats(`${layer.name}_${short}`, weight(layer, short).values, [channels]);
    return g.floats(`${layer.name}_${short}`, new Float32Array(channels).fill(fallback), [channels]);
  };
  return g.node('BatchNormalization', [x.name, param('gamma', 1), param('beta', 0), param('moving_mean', 0), param('moving_variance', 1)],
    layer.name, { epsilon: { float: Number(c.epsilon) } });
};

const activationLayer: Converter = ({ g, layer, inputs: [x] }) => activation(g, layer.name, x, String(config(layer).activation));

const softmaxLayer: Converter = ({ g, layer, inputs: [x] }) => {
  const axis = config(layer).axis;
  return activation(g, layer.name, x, 'softmax', Array.isArray(axis) ? Number(axis[0]) : Number(axis ?? -1));
};

function elementwise(op: 'Add' | 'Mul'): Converter {
  return ({ g, layer, inputs }) => {
    const ranks = new Set(inputs.map((v) => v.shape.length));
    if (ranks.size > 1) throw new Error(`ONNX export: ${layer.getClassName()} '${layer.name}' mixes inputs of ranks ${[...ranks].join(', ')}`);
    let y = inputs[0].name;
    for (let i = 1; i < inputs.length; i++) y = g.node(op, [y, inputs[i].name], i === inputs.length - 1 ? layer.name : `${layer.name}_${i}`);
    return y;
  };
}

const concatenate: Converter = ({ g, layer, inputs }) =>
  g.node('Concat', inputs.map((v) => v.name), layer.name, { axis: onnxAxis(Number(config(layer).axis ?? -1), inputs[0].shape.length) });

const zeroPadding2d: Converter = ({ g, layer, inputs: [x] }) => {
  const [[top, bottom], [left, right]] = config(layer).padding as [[number, number], [number, number]];
  return g.node('Pad', [x.name, g.int64s(`${layer.name}_pads`, [0, 0, top, left, 0, 0, bottom, right])], layer.name, { mode: 'constant' });
};

function pooling(op: 'MaxPool' | 'AveragePool'): Converter {
  return ({ g, layer, inputs: [x] }) => {
    const c = config(layer);
    const kernel = pair(c.poolSize);
    const strides = pair(c.strides ?? c.poolSize);
    const pads = windowPads(c.padding, spatial(x, layer), kernel, strides, [1, 1]);
    // TF's 'same' average leaves the padding out of the count.
    return g.node(op, [x.name], layer.name, { kernel_shape: kernel, strides, pads, ...(op === 'AveragePool' ? { count_include_pad: 0 } : {}) });
  };
}

const globalAveragePooling2d: Converter = ({ g, layer, inputs: [x], outputShape }) =>
  g.node('ReduceMean', [x.name, g.int64s(`${layer.name}_axes`, [2, 3])], layer.name, { keepdims: outputShape.length === 4 ? 1 : 0 });

/** Reshape in tfjs' (NHWC) element order: through NHWC when the input or the output is rank 4. */
const reshape: Converter = ({ g, layer, inputs: [x], outputShape }) => {
  let y = x.name;
  if (x.shape.length === 4) y = g.node('Transpose', [y], `${layer.name}_nhwc`, { perm: [0, 2, 3, 1] });
  const target = [-1, ...outputShape.slice(1).map((d) => {
    if (typeof d !== 'number') throw new Error(`ONNX export: Reshape '${layer.name}' has a dynamic target shape`);
    return d;
  })];
  const toNchw = outputShape.length === 4;
  y = g.node('Reshape', [y, g.int64s(`${layer.name}_shape`, target)], toNchw ? `${layer.name}_reshape` : layer.name);
  return toNchw ? g.node('Transpose', [y], layer.name, { perm: [0, 3, 1, 2] }) : y;
};

/** Keras' UpSampling2D: TF's resize without half-pixel centres (nearest: floor(out · in / size)). */
const upSampling2d: Converter = ({ g, layer, inputs: [x] }) => {
  const c = config(layer);
  const [sh, sw] = pair(c.size);
  const nearest = (c.interpolation ?? 'nearest') === 'nearest';
  return g.node('Resize', [x.name, '', g.floats(`${layer.name}_scales`, [1, 1, sh, sw], [4])], layer.name, {
    mode: nearest ? 'nearest' : 'linear', coordinate_transformation_mode: 'asymmetric', ...(nearest ? { nearest_mode: 'floor' } : {}),
  });
};

/** ml/layers/resizeBilinear.ts: align_corners, or half-pixel centres (PyTorch's align_corners=False). */
const resizeBilinear: Converter = ({ g, layer, inputs: [x], outputShape }) => {
  const [h, w] = spatial(x, layer);
  const [outH, outW] = [outputShape[1] as number, outputShape[2] as number];
  if (h === outH && w === outW) return g.node('Identity', [x.name], layer.name);
  return g.node('Resize', [x.name, '', '', g.int64s(`${layer.name}_sizes`, [outH, outW])], layer.name, {
    mode: 'linear', axes: [2, 3], coordinate_transformation_mode: config(layer).alignCorners ? 'align_corners' : 'half_pixel',
  });
};

/** ml/layers/adaptiveAvgPool2d.ts: a mean for (1, 1), else the same averaging matrices on each side. */
const adaptiveAvgPool2d: Converter = ({ g, layer, inputs: [x], outputShape }) => {
  const [h, w] = spatial(x, layer);
  const [p, q] = [outputShape[1] as number, outputShape[2] as number];
  if (p === 1 && q === 1) return g.node('ReduceMean', [x.name, g.int64s(`${layer.name}_axes`, [2, 3])], layer.name, { keepdims: 1 });
  const rows = g.floats(`${layer.name}_rows`, adaptiveMatrix(h, p).flat(), [p, h]);
  const colsT = tf.tidy(() => tf.tensor2d(adaptiveMatrix(w, q)).transpose().dataSync() as Float32Array);
  const byCols = g.node('MatMul', [x.name, g.floats(`${layer.name}_cols`, colsT, [w, q])], `${layer.name}_cols`);
  return g.node('MatMul', [rows, byCols], layer.name);
};

const channelSlice: Converter = ({ g, layer, inputs: [x] }) => {
  const c = config(layer);
  const start = Number(c.start);
  return g.node('Slice', [x.name, g.int64s(`${layer.name}_starts`, [start]), g.int64s(`${layer.name}_ends`, [start + Number(c.size)]),
    g.int64s(`${layer.name}_axes`, [1])], layer.name);
};

/** ml/layers/groupNorm.ts: instance normalisation of [N, groups, C/groups · H · W], then the per-channel affine. */
const groupNorm: Converter = ({ g, layer, inputs: [x] }) => {
  const c = config(layer);
  const groups = Number(c.groups);
  const [h, w] = spatial(x, layer);
  const channels = x.shape[3] as number;
  const grouped = g.node('Reshape', [x.name, g.int64s(`${layer.name}_grouped_shape`, [0, groups, -1])], `${layer.name}_grouped`);
  const normalised = g.node('InstanceNormalization', [grouped, g.floats(`${layer.name}_unit`, new Float32Array(groups).fill(1), [groups]),
    g.floats(`${layer.name}_zero`, new Float32Array(groups), [groups])], `${layer.name}_normalised`, { epsilon: { float: Number(c.epsilon) } });
  const back = g.node('Reshape', [normalised, g.int64s(`${layer.name}_shape`, [0, channels, h, w])], `${layer.name}_nchw`);
  const scaled = g.node('Mul', [back, g.floats(`${layer.name}_gamma`, weight(layer, 'gamma').values, [channels, 1, 1])], `${layer.name}_scaled`);
  return g.node('Add', [scaled, g.floats(`${layer.name}_beta`, weight(layer, 'beta').values, [channels, 1, 1])], layer.name);
};

/** ml/layers/hardActivation.ts: PyTorch's hardswish / hardsigmoid (relu6(x + 3) / 6), ONNX's own ops. */
const hardActivation: Converter = ({ g, layer, inputs: [x] }) => config(layer).kind === 'hardSwish'
  ? g.node('HardSwish', [x.name], layer.name)
  : g.node('HardSigmoid', [x.name], layer.name, { alpha: { float: 1 / 6 }, beta: { float: 0.5 } });

/** ml/layers/positionAttention.ts, step by step; its final [HW, C] → [C, H, W] reinterpretation is already NCHW. */
const positionAttention: Converter = ({ g, layer, inputs: [top, centre, bottom] }) => {
  const [h, w] = spatial(bottom, layer);
  const hw = h * w;
  const rows = (v: OnnxValue, label: string) => {
    const nhwc = g.node('Transpose', [v.name], `${layer.name}_${label}_nhwc`, { perm: [0, 2, 3, 1] });
    return g.node('Reshape', [nhwc, g.int64s(`${layer.name}_${label}_shape`, [-1, hw, v.shape[3] as number])], `${layer.name}_${label}_rows`);
  };
  const topRows = g.node('Transpose', [rows(top, 'top')], `${layer.name}_top_t`, { perm: [0, 2, 1] });
  const map = g.node('MatMul', [rows(centre, 'centre'), topRows], `${layer.name}_map`);
  const flat = g.node('Reshape', [map, g.int64s(`${layer.name}_flat_shape`, [-1, hw * hw])], `${layer.name}_flat`);
  const soft = g.node('Softmax', [flat], `${layer.name}_softmax`, { axis: 1 });
  const attention = g.node('Reshape', [soft, g.int64s(`${layer.name}_attention_shape`, [-1, hw, hw])], `${layer.name}_attention`);
  const mixed = g.node('MatMul', [attention, rows(bottom, 'bottom')], `${layer.name}_mixed`);
  return g.node('Reshape', [mixed, g.int64s(`${layer.name}_shape`, [-1, bottom.shape[3] as number, h, w])], layer.name);
};

/** ml/layers/radix.ts RadixSoftmax: channels (cardinality, radix, c) → softmax over radix → (radix, cardinality, c). */
const radixSoftmax: Converter = ({ g, layer, inputs: [x] }) => {
  const c = config(layer);
  const radix = Number(c.radix);
  const cardinality = Number(c.cardinality);
  if (radix === 1) return g.node('Sigmoid', [x.name], layer.name);
  const [h, w] = spatial(x, layer);
  const channels = x.shape[3] as number;
  const split = g.node('Reshape', [x.name, g.int64s(`${layer.name}_split_shape`, [0, cardinality, radix, channels / (cardinality * radix), h, w])], `${layer.name}_split`);
  const soft = g.node('Softmax', [split], `${layer.name}_softmax`, { axis: 2 });
  const reordered = g.node('Transpose', [soft], `${layer.name}_reorder`, { perm: [0, 2, 1, 3, 4, 5] });
  return g.node('Reshape', [reordered, g.int64s(`${layer.name}_shape`, [0, channels, h, w])], layer.name);
};

/** ml/layers/radix.ts RadixSum: Σ over radix-major channel blocks, attention-weighted with a second input. */
const radixSum: Converter = ({ g, layer, inputs: [x, attention] }) => {
  const radix = Number(config(layer).radix);
  const [h, w] = spatial(x, layer);
  const channels = x.shape[3] as number;
  const weighted = attention ? g.node('Mul', [x.name, attention.name], `${layer.name}_weighted`) : x.name;
  const blocks = g.node('Reshape', [weighted, g.int64s(`${layer.name}_blocks_shape`, [0, radix, channels / radix, h, w])], `${layer.name}_blocks`);
  return g.node('ReduceSum', [blocks, g.int64s(`${layer.name}_axes`, [1])], layer.name, { keepdims: 0 });
};

/** Keras Dense on [N, features]. */
const dense: Converter = ({ g, layer, inputs: [x] }) => {
  if (x.shape.length !== 2) throw new Error(`ONNX export: Dense '${layer.name}' on a rank-${x.shape.length} input is not supported (only [N, features])`);
  const c = config(layer);
  const kernel = weight(layer, 'kernel');
  let y = g.node('MatMul', [x.name, g.floats(`${layer.name}_W`, kernel.values, kernel.shape)], `${layer.name}_matmul`);
  if (c.useBias) y = g.node('Add', [y, g.floats(`${layer.name}_B`, weight(layer, 'bias').values, [kernel.shape[1]])], layer.name);
  return activation(g, `${layer.name}_act`, { name: y, shape: [x.shape[0], kernel.shape[1]] }, String(c.activation ?? 'linear'));
};

/**
 * The MC split's partial convolution (ml/zoo/mcSplit.ts; only in an exported MC prefix): its convolution over some
 * of the input channels — the parts concatenated, the kernel's input channels sliced to the same ranges, the bias
 * only when it carries it — written by that convolution's own converter, plus the part computed elsewhere when the
 * layer adds one.
 */
const partialConv: Converter = ({ g, layer, inputs, outputShape }) => {
  const partial = layer as PartialConv;
  const parts = partial.addsLastInput ? inputs.slice(0, -1) : inputs;
  const channels = partial.ranges.reduce((sum, [, count]) => sum + count, 0);
  const x: OnnxValue = parts.length === 1
    ? parts[0]
    : { name: g.node('Concat', parts.map((v) => v.name), `${layer.name}_concat`, { axis: 1 }), shape: [...parts[0].shape.slice(0, 3), channels] };
  const { conv } = partial;
  const convert = converters[conv.getClassName()];
  if (!convert) throw new Error(`ONNX export: layer '${layer.name}' splits a ${conv.getClassName()}, which has no ONNX mapping`);
  const y = tf.tidy(() => {
    // The convolution as seen through the split: its kernel's input channels sliced, its bias dropped unless carried.
    const view = Object.create(conv) as tf.layers.Layer;
    const sliced = conv.getWeights().map((w, i) => {
      if (!conv.weights[i].originalName.endsWith('kernel')) return w;
      const slices = partial.ranges.map(([start, count]) => tf.slice(w, [0, 0, start, 0], [-1, -1, count, -1]));
      return slices.length === 1 ? slices[0] : tf.concat(slices, 2);
    });
    const viewConfig = { ...conv.getConfig(), useBias: Boolean(conv.getConfig().useBias) && partial.withBias };
    Object.defineProperties(view, {
      name: { value: layer.name },
      getWeights: { value: () => sliced },
      getConfig: { value: () => viewConfig },
    });
    return convert({ g, layer: view, inputs: [x], outputShape });
  });
  return partial.addsLastInput ? g.node('Add', [y, inputs[inputs.length - 1].name], `${layer.name}_add`) : y;
};

/** Inference-time identity: the exported model is the deterministic one. */
const identity: Converter = ({ inputs: [x] }) => x.name;

/** Layer class name (as saved topologies spell it) → converter. */
export const converters: Record<string, Converter> = {
  TorchConv2d: torchConv2d,
  Conv2D: kerasConv(false),
  DepthwiseConv2D: kerasConv(true),
  Conv2DTranspose: conv2dTranspose,
  BatchNormalization: batchNormalization,
  Activation: activationLayer,
  Softmax: softmaxLayer,
  Add: elementwise('Add'),
  Multiply: elementwise('Mul'),
  Concatenate: concatenate,
  ZeroPadding2D: zeroPadding2d,
  MaxPooling2D: pooling('MaxPool'),
  AveragePooling2D: pooling('AveragePool'),
  GlobalAveragePooling2D: globalAveragePooling2d,
  Reshape: reshape,
  UpSampling2D: upSampling2d,
  ResizeBilinear: resizeBilinear,
  AdaptiveAvgPool2d: adaptiveAvgPool2d,
  ChannelSlice: channelSlice,
  GroupNorm: groupNorm,
  EchoHardActivation: hardActivation,
  PositionAttention: positionAttention,
  RadixSoftmax: radixSoftmax,
  RadixSum: radixSum,
  Dense: dense,
  Dropout: identity,
  SpatialDropout2D: identity,
  MCDropout: identity,
  EchoPartialConv: partialConv,
};
