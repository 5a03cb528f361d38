/**
 * NIfTI-1 (.nii / .nii.gz, as in the CAMUS NIfTI release). Reading goes through nifti-reader-js; writing
 * (only the synthetic generator needs it) is the fixed 348-byte NIfTI-1 header followed by the voxels.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as nifti from 'nifti-reader-js';

export interface NiftiVolume {
  /** [width, height(, frames)]: x is the fastest-varying axis. */
  dims: number[];
  spacing: number[];
  datatype: string;
  /** Voxel values after scl_slope/scl_inter, x fastest. */
  data: Float32Array;
}

const datatypes: Record<number, { name: string; bytes: number; read: (v: DataView, at: number, le: boolean) => number }> = {
  2: { name: 'uint8', bytes: 1, read: (v, at) => v.getUint8(at) },
  256: { name: 'int8', bytes: 1, read: (v, at) => v.getInt8(at) },
  4: { name: 'int16', bytes: 2, read: (v, at, le) => v.getInt16(at, le) },
  512: { name: 'uint16', bytes: 2, read: (v, at, le) => v.getUint16(at, le) },
  8: { name: 'int32', bytes: 4, read: (v, at, le) => v.getInt32(at, le) },
  768: { name: 'uint32', bytes: 4, read: (v, at, le) => v.getUint32(at, le) },
  16: { name: 'float32', bytes: 4, read: (v, at, le) => v.getFloat32(at, le) },
  64: { name: 'float64', bytes: 8, read: (v, at, le) => v.getFloat64(at, le) },
};

export async function readNifti(file: string): Promise<NiftiVolume> {
  const name = path.basename(file);
  let bytes: Uint8Array = await readFile(file);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      throw new Error(`${name}: gzip data does not decompress (${(error as Error).message}); the file is damaged or truncated.`);
    }
  }
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  if (!nifti.isNIFTI1(buffer)) throw new Error(`${name}: not a NIfTI-1 file (no 'n+1' magic in the header).`);
  const header = nifti.readHeader(buffer);
  const type = datatypes[header.datatypeCode];
  if (!type) throw new Error(`${name}: NIfTI datatype code ${header.datatypeCode} is not supported (use an integer or float type).`);
  const nDims = header.dims[0];
  if (nDims < 2 || nDims > 4 || (nDims === 4 && header.dims[4] !== 1 && header.dims[3] !== 1)) {
    throw new Error(`${name}: expected a 2D image or a 2D+time sequence, got ${nDims} dimensions (${header.dims.slice(1, nDims + 1).join('×')}).`);
  }
  const sizes = header.dims.slice(1, nDims + 1);
  const frames = sizes.slice(2).reduce((a, b) => a * b, 1);
  const dims = frames > 1 ? [sizes[0], sizes[1], frames] : [sizes[0], sizes[1]];
  const count = dims.reduce((a, b) => a * b, 1);
  const image = nifti.readImage(header, buffer);
  if (image.byteLength < count * type.bytes) {
    throw new Error(`${name}: holds ${image.byteLength} bytes of voxels, ${dims.join('×')} ${type.name} needs ${count * type.bytes}; the file is truncated.`);
  }
  const view = new DataView(image);
  const slope = header.scl_slope && Number.isFinite(header.scl_slope) ? header.scl_slope : 1;
  const intercept = Number.isFinite(header.scl_inter) ? header.scl_inter : 0;
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = type.read(view, i * type.bytes, header.littleEndian) * slope + intercept;
  return { dims, spacing: header.pixDims.slice(1, dims.length + 1), datatype: type.name, data };
}

/** Writes an 8-bit NIfTI-1 volume ([width, height(, frames)], x fastest); gzipped when the name ends in .gz. */
export async function writeNifti(file: string, volume: { dims: number[]; spacing: number[]; data: Uint8Array }): Promise<void> {
  const count = volume.dims.reduce((a, b) => a * b, 1);
  if (volume.data.length !== count) throw new Error(`writeNifti: ${volume.data.length} values for ${volume.dims.join('×')}.`);
  const voxOffset = 352;
  const out = new Uint8Array(voxOffset + count);
  const view = new DataView(out.buffer);
  view.setInt32(0, 348, true);
  view.setInt16(40, volume.dims.length, true);
  for (let i = 0; i < 7; i++) view.setInt16(42 + 2 * i, volume.dims[i] ?? 1, true);
  view.setInt16(70, 2, true); // DT_UINT8
  view.setInt16(72, 8, true); // bitpix
  view.setFloat32(76, 1, true); // qfac
  for (let i = 0; i < 7; i++) view.setFloat32(80 + 4 * i, volume.spacing[i] ?? 1, true);
  view.setFloat32(108, voxOffset, true);
  view.setFloat32(112, 1, true); // scl_slope
  out[123] = 2 | 8; // xyzt_units: mm, seconds
  view.setInt16(254, 1, true); // sform_code: scanner
  view.setFloat32(280, volume.spacing[0] ?? 1, true); // srow_x
  view.setFloat32(300, volume.spacing[1] ?? 1, true); // srow_y
  view.setFloat32(320, volume.spacing[2] ?? 1, true); // srow_z
  out.set(new TextEncoder().encode('n+1\0'), 344);
  out.set(volume.data, voxOffset);
  await writeFile(file, file.endsWith('.gz') ? gzipSync(out) : out);
}
