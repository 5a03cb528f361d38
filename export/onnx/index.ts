/**
 * `exportOnnx`: a zoo model as an ONNX file (opset 18), written from the tfjs layer graph itself (graph.ts walks it,
 * ops.ts maps each layer class to standard ONNX ops), so that ONNX Runtime, TensorRT, Triton or MONAI Deploy can run
 * it without this project's custom layers. The file takes and returns what the tfjs model does: input `input`
 * [batch, H, W, C] float32, output `output` [batch, H, W, classes] probabilities (sigmoid or softmax); the package's
 * metadata (input size, channels, normalisation, activation, threshold, …) is in `metadata_props`.
 *
 * Opset 18 is the first with Resize's `axes` (the bilinear resizes give the output size of H and W only, so no scale
 * is rounded) and is well inside what current ONNX Runtime releases run.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ModelPackageMetadata } from '../../contracts';
import type { ModelConfig } from '../../ml/types';
import { GraphBuilder } from './builder';
import { convertModel, convertModelOutputs } from './graph';
import type { OnnxValue } from './ops';
import { DataType, encodeModel, type Dimension, type ModelProto, OUTPUT_NAME, type ValueInfoProto } from './proto';

export const ONNX_OPSET = 18;
/** IR version 8 is the one that opset 18 came with. */
const IR_VERSION = 8;

function valueInfo(name: string, shape: tf.Shape): ValueInfoProto {
  const dim: Dimension[] = shape.map((d) => (d === null ? { dim_param: 'batch' } : { dim_value: d }));
  return { name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim } } } };
}

/** `metadata_props`: the fields a deployment reads, one key each, and the whole package metadata as JSON. */
function metadataProps(config: ModelConfig, metadata: ModelPackageMetadata): { key: string; value: string }[] {
  const entries: Record<string, string | number> = {
    architecture: config.arch,
    encoder: config.encoder,
    encoder_depth: config.encoderDepth,
    input_layout: 'NHWC',
    input_height: metadata.input.height,
    input_width: metadata.input.width,
    input_channels: metadata.input.channels,
    normalisation: metadata.input.normalisation,
    classes: config.classes,
    activation: metadata.output.activation,
    threshold: metadata.output.threshold,
    labels: metadata.output.description,
    'echo-al.metadata': JSON.stringify(metadata),
  };
  return Object.entries(entries).map(([key, value]) => ({ key, value: String(value) }));
}

/**
 * The ONNX file of `model` (built by the zoo from `config`); throws an error naming the layer and its class when a
 * layer has no ONNX mapping.
 */
export function exportOnnx(model: tf.LayersModel, config: ModelConfig, metadata: ModelPackageMetadata): Uint8Array {
  const g = new GraphBuilder();
  const { input, output } = convertModel(model, g);
  return encodeModel(modelProto(g, input, [output], config, metadata));
}

/**
 * An MC prefix (ml/zoo/mcSplit.ts: one input, one output per deterministic tensor the stochastic tail reads) as an
 * ONNX file whose outputs are named `mcPrefixOutputNames(n)`, in the prefix's output order.
 */
export function exportOnnxMcPrefix(prefix: tf.LayersModel, config: ModelConfig, metadata: ModelPackageMetadata): Uint8Array {
  const g = new GraphBuilder();
  const { input, outputs } = convertModelOutputs(prefix, g, mcPrefixOutputNames(prefix.outputs.length));
  return encodeModel(modelProto(g, input, outputs, config, metadata));
}

/** The output names of an exported MC prefix with `count` outputs. */
export function mcPrefixOutputNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${OUTPUT_NAME}_${i}`);
}

function modelProto(g: GraphBuilder, input: OnnxValue, outputs: OnnxValue[], config: ModelConfig, metadata: ModelPackageMetadata): ModelProto {
  return {
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    producer_name: 'echo-al',
    producer_version: metadata.code.version,
    doc_string: `${config.arch} + ${config.encoder} segmentation model exported from tfjs by echo-al`,
    graph: {
      name: `${config.arch}_${config.encoder}`,
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(input.name, input.shape)],
      output: outputs.map((o) => valueInfo(o.name, o.shape)),
    },
    metadata_props: metadataProps(config, metadata),
  };
}

export { decodeModel } from './proto';
