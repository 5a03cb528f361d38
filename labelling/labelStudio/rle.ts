/**
 * Label Studio's brush masks: the `@thi.ng/rle-pack` bitstream over the mask's W×H×4 RGBA bytes, row-major.
 * Label Studio's editor copies each pixel's alpha into all four channels before encoding, so a pixel is
 * (a, a, a, a); anti-aliased stroke edges carry alpha between 0 and 255. The result JSON holds the bytes as
 * a plain number array (`value.rle`).
 */
import { decodeBinary, encodeBinary } from '@thi.ng/rle-pack';

/** A foreground pixel as Label Studio writes it: alpha (and, by its convention, R, G, B) at 255. */
const ON = 255;
/** Alpha at or above this counts as foreground (the project's mask normaliser uses the same rule). */
export const ALPHA_THRESHOLD = 128;

export class BrushRleError extends Error {}

function checkSize(width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new BrushRleError(`mask size ${width}×${height} is not a positive integer size`);
  }
}

/** Encodes a 0/1 mask (H×W, row-major) as Label Studio brush RLE bytes. Any non-zero value counts as 1. */
export function maskToBrushRle(mask: Uint8Array, width: number, height: number): number[] {
  checkSize(width, height);
  if (mask.length !== width * height) {
    throw new BrushRleError(`mask has ${mask.length} values; ${width}×${height} needs ${width * height}`);
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) rgba.fill(ON, i * 4, i * 4 + 4);
  }
  return Array.from(encodeBinary(rgba, rgba.length, 8));
}

/** Decodes brush RLE bytes to RGBA (W×H×4) and checks that they describe exactly a W×H image. */
export function brushRleToRgba(rle: ArrayLike<number>, width: number, height: number): Uint8Array {
  checkSize(width, height);
  const bytes = Uint8Array.from(rle as ArrayLike<number>);
  if (bytes.length < 7) throw new BrushRleError(`brush RLE of ${bytes.length} bytes is shorter than its 7-byte header`);
  for (let i = 0; i < rle.length; i++) {
    const v = rle[i];
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new BrushRleError(`brush RLE byte ${i} is ${v}, not 0–255`);
  }
  // The header's first 32 bits are the value count and the next 5 the word size − 1 (8-bit words expected).
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  const wordSize = (bytes[4] >> 3) + 1;
  const expected = width * height * 4;
  if (count !== expected) {
    throw new BrushRleError(`brush RLE holds ${count} values; a ${width}×${height} RGBA mask needs ${expected} (wrong original_width/original_height?)`);
  }
  if (wordSize !== 8) throw new BrushRleError(`brush RLE uses ${wordSize}-bit words; Label Studio writes 8-bit RGBA`);
  let decoded: Uint8Array;
  try {
    decoded = decodeBinary(bytes) as Uint8Array;
  } catch (error) {
    throw new BrushRleError(`brush RLE is truncated or corrupt (${(error as Error).message})`);
  }
  return decoded;
}

/** Decodes brush RLE to a 0/1 mask (H×W): alpha ≥ 128 is foreground. */
export function brushRleToMask(rle: ArrayLike<number>, width: number, height: number): Uint8Array {
  return rgbaToMask(brushRleToRgba(rle, width, height));
}

/** Thresholds the alpha channel of RGBA bytes into a 0/1 mask. */
export function rgbaToMask(rgba: Uint8Array): Uint8Array {
  const mask = new Uint8Array(rgba.length / 4);
  for (let i = 0; i < mask.length; i++) mask[i] = rgba[i * 4 + 3] >= ALPHA_THRESHOLD ? 1 : 0;
  return mask;
}
