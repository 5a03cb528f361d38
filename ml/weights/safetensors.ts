/**
 * A strict reader of the safetensors format (the format of smp's `save_pretrained` directories and of timm's
 * weights): 8 bytes little-endian header length N, N bytes of JSON `{ name: { dtype, shape, data_offsets: [begin,
 * end] }, "__metadata__"?: { string: string } }`, then the raw little-endian tensors, offsets relative to the end of
 * the header. Every declared size is checked against the file and against `maxTensorBytes` before anything is
 * allocated; F32, F16, BF16 and F64 decode to Float32Array. Errors name the file and the tensor.
 */
import * as fs from 'node:fs';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
/** Dtypes decoded to Float32Array (weights); the others (e.g. BN's num_batches_tracked, I64) are listed but not decoded. */
const FLOAT_DTYPES = new Set<SafetensorsDtype>(['F64', 'F32', 'F16', 'BF16']);

/** One tensor as declared in the header. */
export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte range relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsLimits {
  /** Refuse any tensor declared larger than this (default 2 GiB − 1). */
  maxTensorBytes?: number;
  /** Refuse a header larger than this (default 100 MB, as the reference implementation). */
  maxHeaderBytes?: number;
}

export const DEFAULT_MAX_TENSOR_BYTES = 2 ** 31 - 1;
const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** The parsed, checked header of a safetensors buffer. */
export interface SafetensorsHeader {
  tensors: TensorEntry[];
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file. */
  dataStart: number;
}

function fail(source: string, message: string): never {
  throw new SafetensorsError(`${source}: ${message}`);
}

/**
 * Parses and checks the header against the total byte length of the file (`fileSize`, default: `bytes` is the whole
 * file; `bytes` may hold only the first 8 + N bytes); allocates nothing for tensors.
 */
export function parseHeader(bytes: Uint8Array, source = 'safetensors', limits: SafetensorsLimits = {}, fileSize = bytes.byteLength): SafetensorsHeader {
  const maxTensor = limits.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES;
  const maxHeader = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (bytes.byteLength < 8) fail(source, `file is ${bytes.byteLength} bytes, too short for the 8-byte header length (truncated, or not safetensors).`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(maxHeader)) fail(source, `header declares ${headerLength} bytes, over the ${maxHeader}-byte limit (not safetensors?).`);
  const n = Number(headerLength);
  if (8 + n > fileSize) fail(source, `header declares ${n} bytes but the file has only ${fileSize - 8} after the length (truncated).`);
  if (8 + n > bytes.byteLength) fail(source, `header declares ${n} bytes but only ${bytes.byteLength - 8} were read.`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (error) {
    fail(source, `header is not valid UTF-8 JSON (${(error as Error).message}).`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(source, 'header is not a JSON object.');
  const dataStart = 8 + n;
  const dataLength = fileSize - dataStart;
  const tensors: TensorEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Object.values(raw).some((v) => typeof v !== 'string')) fail(source, '__metadata__ must map strings to strings.');
      metadata = raw as Record<string, string>;
      continue;
    }
    tensors.push(checkEntry(source, name, raw, maxTensor));
  }
  // Offsets in range, non-overlapping, and (as the reference implementation demands) covering the data section.
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const t of sorted) {
    if (t.end > dataLength) fail(source, `tensor '${t.name}' ends at byte ${t.end} of a ${dataLength}-byte data section (truncated, or the header lies about sizes).`);
    if (t.begin < cursor) fail(source, `tensor '${t.name}' [${t.begin}, ${t.end}) overlaps the tensor before it (ending at ${cursor}).`);
    if (t.begin > cursor) fail(source, `bytes [${cursor}, ${t.begin}) of the data section belong to no tensor (before '${t.name}').`);
    cursor = t.end;
  }
  if (cursor !== dataLength) fail(source, `the data section has ${dataLength - cursor} bytes after the last tensor that no header entry declares.`);
  return { tensors, metadata, dataStart };
}

function checkEntry(source: string, name: string, raw: unknown, maxTensor: number): TensorEntry {
  const where = `tensor '${name}'`;
  if (typeof raw !== 'object' || raw === null) fail(source, `${where}: entry is not an object.`);
  const { dtype, shape, data_offsets: offsets } = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) fail(source, `${where}: unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')}).`);
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(source, `${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers.`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || o < 0) || offsets[0] > offsets[1]) {
    fail(source, `${where}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 ≤ begin ≤ end.`);
  }
  const itemBytes = DTYPE_BYTES[dtype as SafetensorsDtype];
  // Multiply with a running bound so that a huge declared shape cannot overflow the check.
  let bytes = itemBytes;
  for (const d of shape as number[]) {
    bytes *= d;
    if (bytes > maxTensor) fail(source, `${where}: declared ${dtype}[${(shape as number[]).join(', ')}] needs more than ${maxTensor} bytes, over the limit; refused before allocating.`);
  }
  const [begin, end] = offsets as [number, number];
  if (end - begin !== bytes) {
    fail(source, `${where}: ${dtype}[${(shape as number[]).join(', ')}] needs ${bytes} bytes but data_offsets [${begin}, ${end}) hold ${end - begin}.`);
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

/** A tensor decoded to float32 (row-major, PyTorch's own layout). */
export interface FloatTensor {
  shape: number[];
  data: Float32Array;
}

const f16Table = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * 2 ** -14 * (frac / 1024);
    else if (exp === 31) table[h] = frac ? Number.NaN : sign * Infinity;
    else table[h] = sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  return table;
})();

/** Decodes one float tensor's bytes (little-endian) to Float32Array. */
export function decodeFloat(bytes: Uint8Array, dtype: SafetensorsDtype, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = f16Table[view.getUint16(2 * i, true)];
      break;
    case 'BF16': {
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        word.setUint32(0, view.getUint16(2 * i, true) << 16, true);
        out[i] = word.getFloat32(0, true);
      }
      break;
    }
    default:
      throw new SafetensorsError(`dtype ${dtype} is not a float dtype.`);
  }
  return out;
}

/** A whole file, checked; tensors are decoded on demand. */
export class SafetensorsFile {
  readonly tensors: Map<string, TensorEntry>;

  private constructor(
    readonly source: string,
    private readonly bytes: Uint8Array,
    readonly header: SafetensorsHeader,
  ) {
    this.tensors = new Map(header.tensors.map((t) => [t.name, t]));
  }

  static fromBytes(bytes: Uint8Array, source = 'safetensors', limits: SafetensorsLimits = {}): SafetensorsFile {
    return new SafetensorsFile(source, bytes, parseHeader(bytes, source, limits));
  }

  /**
   * Reads a file: the header first (its 8-byte length and JSON, checked against the file's size), and the data only
   * once every declared size has been checked.
   */
  static read(file: string, limits: SafetensorsLimits = {}): SafetensorsFile {
    let size: number;
    try {
      size = fs.statSync(file).size;
    } catch (error) {
      throw new SafetensorsError(`${file}: cannot read (${(error as Error).message}).`);
    }
    const fd = fs.openSync(file, 'r');
    try {
      const head = Buffer.alloc(Math.min(size, 8));
      fs.readSync(fd, head, 0, head.length, 0);
      if (size < 8) fail(file, `file is ${size} bytes, too short for the 8-byte header length (truncated, or not safetensors).`);
      const n = head.readBigUInt64LE(0);
      const max = BigInt(limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES);
      if (n > max) fail(file, `header declares ${n} bytes, over the ${max}-byte limit (not safetensors?).`);
      if (8n + n > BigInt(size)) fail(file, `header declares ${n} bytes but the file has only ${size - 8} after the length (truncated).`);
      const headerBytes = Buffer.alloc(8 + Number(n));
      fs.readSync(fd, headerBytes, 0, headerBytes.length, 0);
      // Every declared size is checked against the file's size before the data section is read.
      parseHeader(new Uint8Array(headerBytes.buffer, headerBytes.byteOffset, headerBytes.length), file, limits, size);
    } finally {
      fs.closeSync(fd);
    }
    const bytes = fs.readFileSync(file);
    return SafetensorsFile.fromBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file, limits);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  /** The tensor decoded to float32; throws for a missing name or an integer dtype. */
  float(name: string): FloatTensor {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(`${this.source}: no tensor '${name}'.`);
    if (!FLOAT_DTYPES.has(t.dtype)) throw new SafetensorsError(`${this.source}: tensor '${name}' is ${t.dtype}, not a float tensor.`);
    const start = this.header.dataStart + t.begin;
    const count = t.shape.reduce((a, d) => a * d, 1);
    return { shape: t.shape, data: decodeFloat(this.bytes.subarray(start, this.header.dataStart + t.end), t.dtype, count) };
  }
}

/** Whether a dtype decodes to float32. */
export function isFloatDtype(dtype: SafetensorsDtype): boolean {
  return FLOAT_DTYPES.has(dtype);
}

/** Writes float32 tensors as a safetensors buffer (tests, fixtures, and weights this project hands back). */
export function encodeSafetensors(tensors: { name: string; shape: number[]; data: Float32Array }[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, d) => a * d, 1);
    if (count !== t.data.length) throw new SafetensorsError(`tensor '${t.name}': shape [${t.shape}] holds ${count} values, data has ${t.data.length}.`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors) {
    for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i], true);
    at += 4 * t.data.length;
  }
  return out;
}
