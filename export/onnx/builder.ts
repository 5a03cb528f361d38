/**
 * Collects an ONNX graph's nodes and initialisers under unique names. The layer converters (ops.ts) call `node` with
 * a layer's name as the prefix, so every node and weight in the `.onnx` file says which tfjs layer it came from.
 */
import { AttributeType, DataType, type AttributeProto, type NodeProto, type TensorProto } from './proto';

/** An attribute value: a number is an int unless wrapped as `{ float }`. */
export type AttributeValue = number | { float: number } | number[] | { floats: number[] } | string;

function attribute(name: string, value: AttributeValue): AttributeProto {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: ${value} is not an integer (wrap floats as { float })`);
    return { name, type: AttributeType.INT, i: value };
  }
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.FLOATS, floats: value.floats };
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();

  /** `base`, or `base_2`, `base_3`, … if taken. */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 2; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Appends one node and returns the name of its (single) output. */
  node(op: string, inputs: string[], name: string, attributes: Record<string, AttributeValue> = {}): string {
    return this.namedNode(op, inputs, this.uniqueName(name), attributes);
  }

  /** A node whose output has exactly `nodeName` (reserved beforehand with `uniqueName`): the graph's output. */
  namedNode(op: string, inputs: string[], nodeName: string, attributes: Record<string, AttributeValue> = {}): string {
    this.nodes.push({
      name: nodeName,
      op_type: op,
      input: inputs,
      output: [nodeName],
      attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
    });
    return nodeName;
  }

  /** A float32 initialiser (a weight or a constant) of the given shape. */
  floats(name: string, values: Float32Array | number[], dims: number[]): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`initialiser ${name}: ${data.length} values for shape [${dims.join(', ')}]`);
    return this.initializer(name, DataType.FLOAT, dims, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** An int64 initialiser (shapes, axes, pads): a 1-D tensor of the values. */
  int64s(name: string, values: number[]): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    return this.initializer(name, DataType.INT64, [values.length], new Uint8Array(data.buffer));
  }

  private initializer(name: string, dataType: number, dims: number[], bytes: Uint8Array): string {
    const unique = this.uniqueName(name);
    // ONNX's raw_data is little-endian, as typed arrays are on every platform Node runs on here.
    this.initializers.push({ name: unique, dims, data_type: dataType, raw_data: bytes.slice() });
    return unique;
  }
}
