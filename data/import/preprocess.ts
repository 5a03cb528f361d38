/**
 * Decoding and preprocessing shared by the importers: any supported image → grey float in [0, 1] →
 * resized to the dataset size (sharp, Lanczos on 16-bit grey so 16-bit sources keep their precision);
 * masks → binary at the source size by the rules of `data/masks.ts` → resized with nearest neighbour.
 */
import sharp from 'sharp';
import { decodeMaskImage, normaliseMask } from '../masks';

export interface GreyImage {
  width: number;
  height: number;
  /** Row-major, [0, 1]. */
  data: Float32Array;
}

export interface LabelImage {
  width: number;
  height: number;
  /** Row-major raw label values. */
  data: Float32Array;
}

/** An error about one input file; importers report it in the summary and go on. */
export class InputFileError extends Error {
  constructor(readonly file: string, message: string) {
    super(message);
    this.name = 'InputFileError';
  }
}

function sharpInput(bytes: Uint8Array) {
  // Huge frames are legitimate (e.g. 4K exports); libvips' pixel limit guards against decompression bombs only.
  return sharp(bytes, { limitInputPixels: 1 << 28, failOn: 'error' });
}

/** PNG, JPEG or TIFF; 8- or 16-bit; grey, grey+alpha, RGB or RGBA → grey in [0, 1]. */
export async function decodeImageFile(bytes: Uint8Array): Promise<GreyImage> {
  const metadata = await sharpInput(bytes).metadata();
  const sixteenBit = metadata.depth === 'ushort' || metadata.depth === 'short';
  const pipeline = sharpInput(bytes).removeAlpha();
  if (sixteenBit) {
    const { data, info } = await pipeline.toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    const values = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
    return { width: info.width, height: info.height, data: firstChannel(values, info.channels, 65535) };
  }
  const { data, info } = await pipeline.toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: firstChannel(data, info.channels, 255) };
}

function firstChannel(values: ArrayLike<number>, channels: number, scale: number): Float32Array {
  const out = new Float32Array(values.length / channels);
  for (let i = 0; i < out.length; i++) out[i] = values[i * channels] / scale;
  return out;
}

/**
 * A mask file's raw values from its first channel (exact 8- or 16-bit values, so label numbers survive). Colour,
 * alpha and JPEG masks need the full rules: use `normaliseMaskBytes` from `data/masks.ts` instead.
 */
export async function decodeMaskFile(bytes: Uint8Array): Promise<LabelImage> {
  const decoded = await decodeMaskImage(bytes);
  if (!decoded.ok) throw new Error(decoded.reason);
  const out = new Float32Array(decoded.width * decoded.height);
  for (let i = 0; i < out.length; i++) out[i] = decoded.data[i * decoded.channels];
  return { width: decoded.width, height: decoded.height, data: out };
}

/**
 * Label values → 0/1 by the grey rules of `data/masks.ts`: with `label`, pixels equal to it; without, {0, m}
 * masks take m, anti-aliased masks are thresholded at half their maximum, and label maps are refused because
 * which structure is meant must be said. Throws the rules' reason; an empty result is returned (callers report
 * it). `width` lets the anti-aliasing check see 2-D neighbourhoods (default: one row).
 */
export function binariseMask(values: Float32Array, label?: number, width = values.length): Uint8Array {
  const height = width > 0 ? values.length / width : 0;
  const result = normaliseMask({ width, height, channels: 1, data: values }, { label, allowEmpty: true });
  if (!result.ok) throw new Error(result.reason);
  return result.mask;
}

/** Resizes a [0, 1] grey image; returns row-major float32 of the target size. */
export async function resizeImage(image: GreyImage, size: [number, number]): Promise<Float32Array> {
  const [height, width] = size;
  if (image.width === width && image.height === height) {
    const out = new Float32Array(image.data.length);
    for (let i = 0; i < out.length; i++) {
      const v = image.data[i];
      out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    return out;
  }
  const grey16 = new Uint16Array(image.data.length);
  for (let i = 0; i < grey16.length; i++) {
    const v = image.data[i];
    grey16[i] = Math.round((v < 0 ? 0 : v > 1 ? 1 : v) * 65535);
  }
  const { data, info } = await sharp(grey16, { raw: { width: image.width, height: image.height, channels: 1 } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .toColourspace('grey16')
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  const values = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
  return firstChannel(values, info.channels, 65535);
}

/** Resizes a 0/1 mask with nearest neighbour. */
export async function resizeMask(mask: Uint8Array, width: number, height: number, size: [number, number]): Promise<Uint8Array> {
  if (width === size[1] && height === size[0]) return new Uint8Array(mask);
  const grey = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) grey[i] = mask[i] ? 255 : 0;
  const { data, info } = await sharp(grey, { raw: { width, height, channels: 1 } })
    .resize(size[1], size[0], { fit: 'fill', kernel: 'nearest' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(size[0] * size[1]);
  for (let i = 0; i < out.length; i++) out[i] = data[i * info.channels] >= 128 ? 1 : 0;
  return out;
}

/** Integer-typed voxels → [0, 1] by the type's range (negative values clip to 0); floats as they are when in [0, 1], else min–max. */
export function normaliseIntensities(values: Float32Array, typeMax: number | undefined): Float32Array {
  const out = new Float32Array(values.length);
  if (typeMax !== undefined) {
    for (let i = 0; i < values.length; i++) out[i] = values[i] <= 0 ? 0 : Math.min(1, values[i] / typeMax);
    return out;
  }
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min >= 0 && max <= 1) return Float32Array.from(values);
  const range = max - min || 1;
  for (let i = 0; i < values.length; i++) out[i] = (values[i] - min) / range;
  return out;
}

export function parseSize(size: number | [number, number] | undefined): [number, number] {
  const [height, width] = typeof size === 'number' ? [size, size] : size ?? [256, 256];
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 8 || width < 8 || height > 4096 || width > 4096) {
    throw new Error(`Size ${height}×${width} is not valid: give whole pixels between 8 and 4096 (default 256×256).`);
  }
  return [height, width];
}
