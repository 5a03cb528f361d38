/**
 * MetaImage (.mhd header + .raw/.zraw data, as in the original CAMUS release): a plain-text header of
 * `Key = Value` lines. We read what 2D/3D ultrasound files use: NDims, DimSize, ElementSpacing, ElementType,
 * ElementDataFile (a file beside the header, or LOCAL), CompressedData (zlib), byte order.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inflateSync, deflateSync } from 'node:zlib';

export type MetaElementType = 'MET_UCHAR' | 'MET_CHAR' | 'MET_USHORT' | 'MET_SHORT' | 'MET_UINT' | 'MET_INT' | 'MET_FLOAT' | 'MET_DOUBLE';

const elementBytes: Record<MetaElementType, number> = {
  MET_UCHAR: 1, MET_CHAR: 1, MET_USHORT: 2, MET_SHORT: 2, MET_UINT: 4, MET_INT: 4, MET_FLOAT: 4, MET_DOUBLE: 8,
};

export interface MetaImage {
  /** Sizes with x (columns) first, as in the header: [width, height(, frames)]. */
  dims: number[];
  spacing: number[];
  elementType: MetaElementType;
  /** Voxel values, x fastest, converted to float32 (exact for 8- and 16-bit types). */
  data: Float32Array;
}

export function parseMetaHeader(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (match) fields.set(match[1], match[2]);
  }
  return fields;
}

function numbers(value: string | undefined, field: string, file: string): number[] {
  if (value === undefined) throw new Error(`${file}: the MetaImage header has no ${field}.`);
  const parsed = value.split(/\s+/).map(Number);
  if (parsed.length === 0 || parsed.some((n) => !Number.isFinite(n))) throw new Error(`${file}: ${field} = '${value}' is not a list of numbers.`);
  return parsed;
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && /^true$/i.test(value);
}

function decodeElements(bytes: Uint8Array, type: MetaElementType, count: number, bigEndian: boolean): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = !bigEndian;
  const out = new Float32Array(count);
  const size = elementBytes[type];
  for (let i = 0; i < count; i++) {
    const at = i * size;
    switch (type) {
      case 'MET_UCHAR': out[i] = view.getUint8(at); break;
      case 'MET_CHAR': out[i] = view.getInt8(at); break;
      case 'MET_USHORT': out[i] = view.getUint16(at, little); break;
      case 'MET_SHORT': out[i] = view.getInt16(at, little); break;
      case 'MET_UINT': out[i] = view.getUint32(at, little); break;
      case 'MET_INT': out[i] = view.getInt32(at, little); break;
      case 'MET_FLOAT': out[i] = view.getFloat32(at, little); break;
      case 'MET_DOUBLE': out[i] = view.getFloat64(at, little); break;
    }
  }
  return out;
}

/** Reads a .mhd file and its data file; errors name the file and what is wrong with it. */
export async function readMetaImage(headerPath: string): Promise<MetaImage> {
  const name = path.basename(headerPath);
  const headerBytes = await readFile(headerPath);
  const localAt = headerBytes.indexOf('ElementDataFile');
  const headerEnd = localAt < 0 ? headerBytes.length : headerBytes.indexOf(0x0a, localAt) + 1 || headerBytes.length;
  const fields = parseMetaHeader(headerBytes.subarray(0, headerEnd).toString('latin1'));
  const dims = numbers(fields.get('DimSize'), 'DimSize', name);
  const nDims = fields.has('NDims') ? numbers(fields.get('NDims'), 'NDims', name)[0] : dims.length;
  if (dims.length !== nDims || dims.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`${name}: DimSize = '${fields.get('DimSize')}' does not give ${nDims} positive sizes.`);
  }
  const spacing = fields.has('ElementSpacing') ? numbers(fields.get('ElementSpacing'), 'ElementSpacing', name) : dims.map(() => 1);
  const elementType = fields.get('ElementType') as MetaElementType | undefined;
  if (!elementType || !(elementType in elementBytes)) {
    throw new Error(`${name}: ElementType '${elementType ?? ''}' is not supported (use one of ${Object.keys(elementBytes).join(', ')}).`);
  }
  if ((Number(fields.get('ElementNumberOfChannels') ?? '1')) !== 1) throw new Error(`${name}: only single-channel MetaImages are supported.`);
  const dataFile = fields.get('ElementDataFile');
  if (!dataFile) throw new Error(`${name}: the MetaImage header has no ElementDataFile.`);
  let stored: Uint8Array;
  if (dataFile === 'LOCAL') {
    stored = headerBytes.subarray(headerEnd);
  } else {
    const dataPath = path.resolve(path.dirname(headerPath), dataFile);
    try {
      stored = await readFile(dataPath);
    } catch (error) {
      throw new Error(`${name}: cannot read its data file ${dataFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`);
    }
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = count * elementBytes[elementType];
  let raw = stored;
  if (isTrue(fields.get('CompressedData'))) {
    try {
      raw = inflateSync(stored);
    } catch (error) {
      throw new Error(`${name}: compressed data in ${dataFile} does not inflate (${(error as Error).message}); the file is damaged or truncated.`);
    }
  }
  if (raw.length < expected) {
    throw new Error(`${name}: ${dataFile} holds ${raw.length} bytes, DimSize ${dims.join('×')} of ${elementType} needs ${expected}; the file is truncated.`);
  }
  const bigEndian = isTrue(fields.get('ElementByteOrderMSB')) || isTrue(fields.get('BinaryDataByteOrderMSB'));
  return { dims, spacing, elementType, data: decodeElements(raw.subarray(0, expected), elementType, count, bigEndian) };
}

export interface MetaImageToWrite {
  dims: number[];
  spacing: number[];
  elementType: 'MET_UCHAR' | 'MET_USHORT' | 'MET_SHORT' | 'MET_FLOAT';
  /** Values already in the element type's range, x fastest. */
  data: ArrayLike<number>;
  /** zlib-compress the data into a .zraw file (CompressedData = True). */
  compressed?: boolean;
}

/** Writes `<name>.mhd` and its `.raw` (or `.zraw`) beside it; returns both paths. */
export async function writeMetaImage(headerPath: string, image: MetaImageToWrite): Promise<string[]> {
  const count = image.dims.reduce((a, b) => a * b, 1);
  if (image.data.length !== count) throw new Error(`writeMetaImage: ${image.data.length} values for DimSize ${image.dims.join('×')}.`);
  const size = elementBytes[image.elementType];
  const bytes = new Uint8Array(count * size);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) {
    const value = image.data[i];
    switch (image.elementType) {
      case 'MET_UCHAR': view.setUint8(i, value); break;
      case 'MET_USHORT': view.setUint16(i * 2, value, true); break;
      case 'MET_SHORT': view.setInt16(i * 2, value, true); break;
      case 'MET_FLOAT': view.setFloat32(i * 4, value, true); break;
    }
  }
  const stem = path.basename(headerPath).replace(/\.mhd$/i, '');
  const dataName = `${stem}.${image.compressed ? 'zraw' : 'raw'}`;
  const payload = image.compressed ? deflateSync(bytes) : bytes;
  const header = [
    'ObjectType = Image',
    `NDims = ${image.dims.length}`,
    'BinaryData = True',
    'BinaryDataByteOrderMSB = False',
    `CompressedData = ${image.compressed ? 'True' : 'False'}`,
    ...(image.compressed ? [`CompressedDataSize = ${payload.length}`] : []),
    `TransformMatrix = ${image.dims.map((_, r) => image.dims.map((__, c) => (r === c ? 1 : 0)).join(' ')).join(' ')}`,
    `Offset = ${image.dims.map(() => 0).join(' ')}`,
    `ElementSpacing = ${image.spacing.join(' ')}`,
    `DimSize = ${image.dims.join(' ')}`,
    `ElementType = ${image.elementType}`,
    `ElementDataFile = ${dataName}`,
    '',
  ].join('\n');
  const dataPath = path.join(path.dirname(headerPath), dataName);
  await writeFile(dataPath, payload);
  await writeFile(headerPath, header);
  return [headerPath, dataPath];
}
