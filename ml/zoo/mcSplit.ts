/**
 * The split of a model graph for fast Monte Carlo dropout: the deterministic prefix runs once per batch, the
 * stochastic tail once per pass (ml/mcSampling.ts).
 *
 * A node of the graph is stochastic when its layer is an MCDropout or it reads a stochastic tensor; everything else
 * is deterministic — in MC mode too, since batch norm uses its moving statistics there. The prefix outputs every
 * deterministic tensor a stochastic node reads (the frontier); the tail replays the stochastic nodes, in graph
 * order, on new inputs standing for the frontier, with the model's own layers (shared weights) and each node's own
 * call arguments. So nothing deterministic is recomputed per pass: with dropout after every decoder unit, the
 * decoder's first unit (it reads only encoder features) is in the prefix, not only the encoder.
 *
 * One rewrite goes further: a stochastic convolution whose input is a channel concatenation of stochastic and
 * deterministic tensors (a decoder block reading its upsampled input and an encoder skip) is linear in each part,
 * conv(concat(s, d)) = conv_s(s) + conv_d(d) with the kernel's input channels split accordingly (zero padding
 * is linear too). The deterministic part conv_d(d) moves to the prefix; the tail convolves only s and adds it.
 * The model's own kernel and bias are read at call time, so the split always computes with the current weights.
 */
import * as tf from '@tensorflow/tfjs';
import { MCDropout } from '../layers/mcDropout';
import { TorchConv2d } from '../layers/torchConv2d';

/** tfjs-layers' Node (internal; the fields read here). */
interface GraphNode {
  outboundLayer: tf.layers.Layer;
  inputTensors: tf.SymbolicTensor[];
  outputTensors: tf.SymbolicTensor[];
  callArgs?: Record<string, unknown>;
}

function producer(t: tf.SymbolicTensor): GraphNode | undefined {
  return (t.sourceLayer?.inboundNodes as unknown as GraphNode[] | undefined)?.[t.nodeIndex];
}

/** The nodes `output` depends on, each after the nodes it reads (depth-first post-order), stopping at `input`. */
function nodesInOrder(input: tf.SymbolicTensor, output: tf.SymbolicTensor): GraphNode[] {
  const order: GraphNode[] = [];
  const visited = new Set<GraphNode>();
  // Iterative, so deep encoders cannot overflow the stack: [node, expanded].
  const stack: [GraphNode, boolean][] = [];
  const push = (t: tf.SymbolicTensor) => {
    if (t.id === input.id) return;
    const node = producer(t);
    if (node && !visited.has(node)) stack.push([node, false]);
  };
  push(output);
  while (stack.length > 0) {
    const [node, expanded] = stack.pop()!;
    if (visited.has(node)) continue;
    if (expanded) {
      visited.add(node);
      order.push(node);
      continue;
    }
    stack.push([node, true]);
    for (const t of node.inputTensors) push(t);
  }
  return order;
}

/** A convolution layer the concatenation rewrite can split: stock Keras Conv2D (linear, NHWC) or TorchConv2d with groups 1. */
export interface SplittableConv extends tf.layers.Layer {
  kernel: tf.LayerVariable;
  bias?: tf.LayerVariable | null;
}

function splittableConv(layer: tf.layers.Layer): SplittableConv | undefined {
  if (layer instanceof TorchConv2d) return layer.groups === 1 ? (layer as unknown as SplittableConv) : undefined;
  if (layer.getClassName() !== 'Conv2D') return undefined;
  const config = layer.getConfig();
  return config.activation === 'linear' && config.dataFormat === 'channelsLast' ? (layer as unknown as SplittableConv) : undefined;
}

/** [first channel, count] of each part of a split input. */
export type ChannelRange = [number, number];

/**
 * `conv` applied to some of its input channels: the concatenation of this layer's inputs stands for `ranges` of the
 * conv's input; bias only when `withBias`. Runs the conv's own `call` on a view with the kernel sliced, so padding,
 * stride and dilation are the conv's. Optionally adds a last input (the part computed elsewhere).
 */
export class PartialConv extends tf.layers.Layer {
  static className = 'EchoPartialConv';

  /** Public for the ONNX exporter (export/onnx/ops.ts), which writes the same computation as standard operators. */
  constructor(readonly conv: SplittableConv, readonly ranges: ChannelRange[], readonly withBias: boolean,
    readonly addsLastInput: boolean, name: string) {
    super({ name, trainable: false });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shapes = (Array.isArray(inputShape[0]) ? inputShape : [inputShape]) as tf.Shape[];
    const channels = this.ranges.reduce((sum, [, count]) => sum + count, 0);
    const first = shapes[0];
    return this.conv.computeOutputShape([first[0], first[1], first[2], channels]) as tf.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const list = Array.isArray(inputs) ? inputs : [inputs];
      const parts = this.addsLastInput ? list.slice(0, -1) : list;
      const x = parts.length === 1 ? parts[0] : tf.concat(parts, 3);
      const kernel = this.conv.kernel.read();
      const slices = this.ranges.map(([start, count]) => tf.slice(kernel, [0, 0, start, 0], [-1, -1, count, -1]));
      const view = Object.create(this.conv) as SplittableConv;
      Object.defineProperty(view, 'kernel', { value: { read: () => (slices.length === 1 ? slices[0] : tf.concat(slices, 2)) } });
      if (!this.withBias) Object.defineProperty(view, 'bias', { value: null });
      const y = view.call(x, {}) as tf.Tensor;
      return this.addsLastInput ? tf.add(y, list[list.length - 1]) : y;
    });
  }
}

/** How a stochastic conv reading a mixed concatenation is split. */
interface ConvSplit {
  conv: SplittableConv;
  stochasticInputs: tf.SymbolicTensor[];
  stochasticRanges: ChannelRange[];
  deterministicInputs: tf.SymbolicTensor[];
  deterministicRanges: ChannelRange[];
}

function convSplitOf(node: GraphNode, stochastic: Set<number>): ConvSplit | undefined {
  const conv = splittableConv(node.outboundLayer);
  if (!conv || node.inputTensors.length !== 1) return undefined;
  const concat = producer(node.inputTensors[0]);
  if (!concat || concat.outboundLayer.getClassName() !== 'Concatenate') return undefined;
  const axis = (concat.outboundLayer.getConfig().axis as number | undefined) ?? -1;
  if (axis !== -1 && axis !== 3) return undefined;
  const split: ConvSplit = { conv, stochasticInputs: [], stochasticRanges: [], deterministicInputs: [], deterministicRanges: [] };
  let start = 0;
  for (const t of concat.inputTensors) {
    const count = t.shape[3];
    if (t.rank !== 4 || count == null) return undefined;
    const random = stochastic.has(t.id);
    (random ? split.stochasticInputs : split.deterministicInputs).push(t);
    (random ? split.stochasticRanges : split.deterministicRanges).push([start, count]);
    start += count;
  }
  return split.stochasticInputs.length > 0 && split.deterministicInputs.length > 0 ? split : undefined;
}

export interface MCGraphSplit {
  prefix: tf.LayersModel;
  tail: tf.LayersModel;
  /** Convolutions split over a concatenation (their deterministic part runs in the prefix). */
  splitConvs: string[];
}

/**
 * Splits `input → output` at its MCDropout layers (see the module comment). Throws when the graph has no MCDropout
 * on the way to `output`.
 */
export function splitAtMCDropout(input: tf.SymbolicTensor, output: tf.SymbolicTensor, names = { prefix: 'mc_prefix', tail: 'mc_tail' }): MCGraphSplit {
  const nodes = nodesInOrder(input, output);
  const stochastic = new Set<number>();
  const stochasticNodes: GraphNode[] = [];
  for (const node of nodes) {
    if (node.outboundLayer instanceof MCDropout || node.inputTensors.some((t) => stochastic.has(t.id))) {
      stochasticNodes.push(node);
      for (const t of node.outputTensors) stochastic.add(t.id);
    }
  }
  if (!stochastic.has(output.id)) throw new Error('The model has no MCDropout layer on the way to its output; it cannot be split for MC sampling.');

  // What each stochastic node reads in the tail: its inputs, or for a split conv the stochastic parts of its concat.
  const splits = new Map<GraphNode, ConvSplit>();
  for (const node of stochasticNodes) {
    const split = convSplitOf(node, stochastic);
    if (split) splits.set(node, split);
  }
  const reads = (node: GraphNode) => splits.get(node)?.stochasticInputs ?? node.inputTensors;
  // Only the nodes the output needs (a concat read only by split convs drops out), in graph order.
  const needed = new Set<GraphNode>();
  const pending = [output];
  while (pending.length > 0) {
    const t = pending.pop()!;
    const node = producer(t);
    if (!node || !stochastic.has(t.id) || needed.has(node)) continue;
    needed.add(node);
    pending.push(...reads(node));
  }
  const replay = stochasticNodes.filter((n) => needed.has(n));

  // Prefix outputs: deterministic tensors the replayed nodes read, then the deterministic parts of split convs.
  const frontier: tf.SymbolicTensor[] = [];
  const inFrontier = new Set<number>();
  for (const node of replay) {
    for (const t of reads(node)) {
      if (stochastic.has(t.id) || inFrontier.has(t.id)) continue;
      if (t.id === input.id) throw new Error('An MCDropout-dependent layer reads the model input directly; the MC prefix would be empty.');
      inFrontier.add(t.id);
      frontier.push(t);
    }
  }
  const hoisted = new Map<GraphNode, tf.SymbolicTensor>();
  for (const node of replay) {
    const split = splits.get(node);
    if (!split) continue;
    const part = new PartialConv(split.conv, split.deterministicRanges, false, false, `${node.outboundLayer.name}_mc_hoisted`);
    const d = split.deterministicInputs;
    hoisted.set(node, part.apply(d.length === 1 ? d[0] : d) as tf.SymbolicTensor);
  }
  const prefixOutputs = [...frontier, ...hoisted.values()];
  const prefix = tf.model({ inputs: input, outputs: prefixOutputs, name: names.prefix });

  const mapped = new Map<number, tf.SymbolicTensor>();
  const standIn = (t: tf.SymbolicTensor, i: number) => tf.input({ shape: t.shape.slice(1) as number[], name: `${names.tail}_input${i}` });
  const tailInputs = prefixOutputs.map(standIn);
  frontier.forEach((t, i) => mapped.set(t.id, tailInputs[i]));
  const hoistedInputs = new Map([...hoisted.keys()].map((node, i) => [node, tailInputs[frontier.length + i]]));
  const mappedInput = (node: GraphNode, t: tf.SymbolicTensor) => {
    const m = mapped.get(t.id);
    if (!m) throw new Error(`MC split: '${node.outboundLayer.name}' reads a tensor the tail does not have.`);
    return m;
  };
  for (const node of replay) {
    const split = splits.get(node);
    let outputs: tf.SymbolicTensor[];
    if (split) {
      const rest = new PartialConv(split.conv, split.stochasticRanges, true, true, `${node.outboundLayer.name}_mc_tail`);
      outputs = [rest.apply([...split.stochasticInputs.map((t) => mappedInput(node, t)), hoistedInputs.get(node)!]) as tf.SymbolicTensor];
    } else {
      const inputs = node.inputTensors.map((t) => mappedInput(node, t));
      const result = node.outboundLayer.apply(inputs.length === 1 ? inputs[0] : inputs, node.callArgs ?? {});
      outputs = (Array.isArray(result) ? result : [result]) as tf.SymbolicTensor[];
    }
    if (outputs.length !== node.outputTensors.length) throw new Error(`MC split: '${node.outboundLayer.name}' changed its number of outputs on replay.`);
    node.outputTensors.forEach((t, i) => mapped.set(t.id, outputs[i]));
  }
  const tail = tf.model({ inputs: tailInputs, outputs: mapped.get(output.id)!, name: names.tail });
  return { prefix, tail, splitConvs: [...hoisted.keys()].map((n) => n.outboundLayer.name) };
}
