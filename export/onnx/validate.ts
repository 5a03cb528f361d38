/**
 * Reading an `.onnx` file a user hands in (`predict --package DIR` with `model.onnx`) and deciding whether it is a
 * model this project exported — before anything runs or is written. A truncated or foreign file must be refused with
 * the reason, not fail later inside ONNX Runtime or, worse, run on inputs laid out or normalised differently from what
 * the model was trained on. What is checked: the bytes parse as an ONNX ModelProto with a graph and an opset; the
 * `echo-al.metadata` entry of `metadata_props` is this project's package metadata; the graph's one input and one
 * output are float32 `[batch, H, W, C]` / `[batch, H, W, classes]` with the sizes that metadata states.
 */
import fs from 'node:fs';
import { MODEL_PACKAGE_FORMAT, type ModelPackageMetadata } from '../../contracts';
import { DataType, decodeModel, type Dimension, INPUT_NAME, type ModelProto, OUTPUT_NAME, type ValueInfoProto } from './proto';

/** The key of `metadata_props` holding the whole package metadata (JSON). */
export const METADATA_PROP = 'echo-al.metadata';

/** A file that is not an ONNX model of this project's package format; the message is the one-line reason. */
export class OnnxModelError extends Error {
  override name = 'OnnxModelError';
}

function describeDims(dims: readonly Dimension[]): string {
  return `[${dims.map((d) => ('dim_value' in d && d.dim_value !== undefined ? String(d.dim_value) : ('dim_param' in d && d.dim_param) || '?')).join(', ')}]`;
}

/** Checks one graph input or output: its name, float32 and `[batch, …expected]` (a symbolic or any batch size). */
function checkTensor(file: string, role: 'input' | 'output', values: readonly ValueInfoProto[] | undefined, name: string, expected: readonly number[]): void {
  if (!values || values.length !== 1) throw new OnnxModelError(`${file}: the graph has ${values?.length ?? 0} ${role}s; a package model has one, '${name}'`);
  const [value] = values;
  const tensor = value.type?.tensor_type;
  const dims = tensor?.shape?.dim ?? [];
  const want = `float32 [batch, ${expected.join(', ')}]`;
  if (value.name !== name || tensor?.elem_type !== DataType.FLOAT || dims.length !== expected.length + 1 ||
    dims.slice(1).some((d, i) => !('dim_value' in d) || Number(d.dim_value) !== expected[i])) {
    const got = tensor ? `'${value.name}' of type ${tensor.elem_type ?? '?'} ${describeDims(dims)}` : `'${value.name}' (not a tensor)`;
    throw new OnnxModelError(`${file}: its ${role} is ${got}, but its metadata says ${want} named '${name}' (NHWC, as export --format onnx writes)`);
  }
}

function parse(file: string, bytes: Uint8Array): ModelProto {
  if (bytes.length === 0) throw new OnnxModelError(`${file} is empty`);
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (error) {
    throw new OnnxModelError(`${file} is not a readable ONNX model (truncated or another kind of file: ${(error as Error).message})`);
  }
  if (!model.graph?.node?.length || !model.opset_import?.length || !model.ir_version) {
    throw new OnnxModelError(`${file} is not an ONNX model (no graph, opset or IR version in it: truncated or another kind of file)`);
  }
  return model;
}

function packageMetadataOf(file: string, model: ModelProto): ModelPackageMetadata {
  const text = model.metadata_props?.find((p) => p.key === METADATA_PROP)?.value;
  if (text === undefined) {
    throw new OnnxModelError(`${file} was not written by \`client.ts export --format onnx\` (no '${METADATA_PROP}' in its metadata_props), so its input layout and normalisation are unknown`);
  }
  let metadata: ModelPackageMetadata;
  try {
    metadata = JSON.parse(text) as ModelPackageMetadata;
  } catch {
    throw new OnnxModelError(`${file}: its '${METADATA_PROP}' is not JSON`);
  }
  if (metadata?.format !== MODEL_PACKAGE_FORMAT || !Array.isArray(metadata.inputShape) || metadata.inputShape.length !== 3 || !Number.isInteger(metadata.classes)) {
    throw new OnnxModelError(`${file}: its '${METADATA_PROP}' is not an echo-al package's metadata (format '${String(metadata?.format)}', input shape ${JSON.stringify(metadata?.inputShape)})`);
  }
  return metadata;
}

/**
 * The package metadata of an ONNX model file this project exported, or an `OnnxModelError` saying why the file is
 * not one. Reads and parses the whole file (the weights included: a truncated file fails here).
 */
export function readOnnxModelMetadata(file: string): ModelPackageMetadata {
  const model = parse(file, new Uint8Array(fs.readFileSync(file)));
  const metadata = packageMetadataOf(file, model);
  const [height, width, channels] = metadata.inputShape;
  checkTensor(file, 'input', model.graph.input, INPUT_NAME, [height, width, channels]);
  checkTensor(file, 'output', model.graph.output, OUTPUT_NAME, [height, width, metadata.classes]);
  return metadata;
}
