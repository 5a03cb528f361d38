/**
 * Walks a tfjs LayersModel from its output back to its input (each symbolic tensor knows the layer that made it and
 * that layer's inputs) and converts the layers in topological order. Walking from the model's own output visits only
 * the nodes this model computes, even when its layers are shared with other models (the MC prefix and tail).
 */
import * as tf from '@tensorflow/tfjs';
import type { GraphBuilder } from './builder';
import { converters, type OnnxValue } from './ops';

/** The names of the graph's input and output, and their tfjs (NHWC) shapes. */
export interface ConvertedGraph {
  input: OnnxValue;
  output: OnnxValue;
}

import { INPUT_NAME, OUTPUT_NAME } from './proto';

export { INPUT_NAME, OUTPUT_NAME };

/** Every symbolic tensor the output depends on, inputs before the tensors computed from them. */
function topologicalOrder(output: tf.SymbolicTensor): tf.SymbolicTensor[] {
  const order: tf.SymbolicTensor[] = [];
  const state = new Map<number, 'open' | 'done'>();
  // Iterative depth-first post-order: the deepest encoders are hundreds of layers deep.
  const stack: { tensor: tf.SymbolicTensor; expanded: boolean }[] = [{ tensor: output, expanded: false }];
  while (stack.length > 0) {
    const top = stack.pop()!;
    if (top.expanded) {
      state.set(top.tensor.id, 'done');
      order.push(top.tensor);
      continue;
    }
    if (state.has(top.tensor.id)) continue;
    state.set(top.tensor.id, 'open');
    stack.push({ tensor: top.tensor, expanded: true });
    for (const input of [...top.tensor.inputs].reverse()) {
      if (!state.has(input.id)) stack.push({ tensor: input, expanded: false });
    }
  }
  return order;
}

/** Converts the model into `g`: input NHWC → Transpose → the layers in NCHW → Transpose → output NHWC. */
export function convertModel(model: tf.LayersModel, g: GraphBuilder): ConvertedGraph {
  if (model.outputs.length !== 1) {
    throw new Error(`ONNX export: the model must have one input and one output, it has ${model.inputs.length} and ${model.outputs.length}`);
  }
  const { input, outputs } = convertModelOutputs(model, g, [OUTPUT_NAME]);
  return { input, output: outputs[0] };
}

/**
 * Converts a model with one input and any number of outputs (an MC prefix), the outputs named `names` in order;
 * rank-4 outputs are transposed back to NHWC.
 */
export function convertModelOutputs(model: tf.LayersModel, g: GraphBuilder, names: readonly string[]): { input: OnnxValue; outputs: OnnxValue[] } {
  if (model.inputs.length !== 1 || model.outputs.length !== names.length) {
    throw new Error(`ONNX export: the model must have one input and ${names.length} output(s), it has ${model.inputs.length} and ${model.outputs.length}`);
  }
  const [modelInput] = model.inputs;
  if (modelInput.shape.length !== 4) throw new Error(`ONNX export: the input must be [N, H, W, C], got [${modelInput.shape.join(', ')}]`);
  g.uniqueName(INPUT_NAME);
  for (const name of names) g.uniqueName(name);
  const values = new Map<number, OnnxValue>();
  values.set(modelInput.id, { name: g.node('Transpose', [INPUT_NAME], 'input_nchw', { perm: [0, 3, 1, 2] }), shape: modelInput.shape });
  for (const modelOutput of model.outputs) {
    for (const tensor of topologicalOrder(modelOutput)) {
      if (values.has(tensor.id)) continue;
      const layer = tensor.sourceLayer;
      const className = layer.getClassName();
      if (className === 'InputLayer') throw new Error(`ONNX export: input '${tensor.name}' is not the model's input`);
      const convert = converters[className];
      if (!convert) {
        throw new Error(`ONNX export: layer '${layer.name}' of class ${className} has no ONNX mapping (export/onnx/ops.ts lists the supported classes)`);
      }
      if ((tensor.outputTensorIndex ?? 0) > 0) throw new Error(`ONNX export: layer '${layer.name}' (${className}) has several outputs, which is not supported`);
      const inputs = tensor.inputs.map((input) => values.get(input.id)!);
      values.set(tensor.id, { name: convert({ g, layer, inputs, outputShape: tensor.shape }), shape: tensor.shape });
    }
  }
  const outputs = model.outputs.map((modelOutput, i) => {
    const last = values.get(modelOutput.id)!;
    if (last.shape.length === 4) g.namedNode('Transpose', [last.name], names[i], { perm: [0, 2, 3, 1] });
    else g.namedNode('Identity', [last.name], names[i]);
    return { name: names[i], shape: modelOutput.shape };
  });
  return { input: { name: INPUT_NAME, shape: modelInput.shape }, outputs };
}
