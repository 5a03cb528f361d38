/**
 * The ONNX protobuf schema (the official `onnx.proto`, vendored beside this file) loaded with protobufjs, and the
 * plain shapes of the messages the exporter fills. Encoding is protobufjs' own: this module only names fields as the
 * schema spells them (`keepCase`) and checks a model against the schema before encoding it.
 */
import path from 'node:path';
import protobuf from 'protobufjs';
import { projectRoot } from '../../config';

/** The graph's input and output names: what a runtime feeds and fetches. */
export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'output';

/** `TensorProto.DataType` values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** `AttributeProto.AttributeType` values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}

export interface NodeProto {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: AttributeProto[];
}

export interface TensorProto {
  name: string;
  dims: number[];
  data_type: number;
  /** Little-endian values (ONNX's raw_data). */
  raw_data: Uint8Array;
}

/** A dimension: a fixed size, or a symbolic name (the batch). */
export type Dimension = { dim_value: number } | { dim_param: string };

export interface ValueInfoProto {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: Dimension[] } } };
}

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  doc_string?: string;
}

export interface ModelProto {
  ir_version: number;
  opset_import: { domain: string; version: number }[];
  producer_name: string;
  producer_version: string;
  graph: GraphProto;
  metadata_props: { key: string; value: string }[];
  doc_string?: string;
}

let modelType: protobuf.Type | undefined;

/** `onnx.ModelProto` from the vendored schema (parsed once). */
function modelProtoType(): protobuf.Type {
  modelType ??= new protobuf.Root()
    .loadSync(path.join(projectRoot, 'export', 'onnx', 'onnx.proto'), { keepCase: true })
    .lookupType('onnx.ModelProto');
  return modelType;
}

/** The model's bytes (a `.onnx` file); throws if a field does not fit the schema. */
export function encodeModel(model: ModelProto): Uint8Array {
  const type = modelProtoType();
  const problem = type.verify(model);
  if (problem) throw new Error(`ONNX export produced an invalid ModelProto: ${problem}`);
  return type.encode(type.fromObject(model)).finish();
}

/** Parses a `.onnx` file back into plain objects (int64 fields as numbers): for tests and checks. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const type = modelProtoType();
  return type.toObject(type.decode(bytes), { longs: Number, defaults: false }) as ModelProto;
}
