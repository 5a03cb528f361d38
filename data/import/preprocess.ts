/**
 * Decoding and preprocessing shared by the importers: any supported image → grey float in [0, 1] →
 * resized to the dataset size (sharp, Lanczos on 16-bit grey so 16-bit sources keep their precision);
 * masks → binary at the source size → resized with nearest neighbour.
 */
import sharp from 'sharp';

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

/** A mask file's raw values from its first channel (no colour conversion, so label numbers survive). */
export async function decodeMaskFile(bytes: Uint8Array): Promise<LabelImage> {
  const metadata = await sharpInput(bytes).metadata();
  const sixteenBit = metadata.depth === 'ushort' || metadata.depth === 'short';
  // 16-bit data needs its own 16-bit colourspace kept, or libvips rescales it on the way out.
  const input = sharpInput(bytes);
  const pipeline = sixteenBit
    ? input.toColourspace((metadata.channels ?? 1) >= 3 ? 'rgb16' : 'grey16').raw({ depth: 'ushort' })
    : input.extractChannel(0).raw();
  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
  const values = sixteenBit ? new Uint16Array(data.buffer, data.byteOffset, data.length / 2) : data;
  const out = new Float32Array(info.width * info.height);
  for (let i = 0; i < out.length; i++) out[i] = values[i * info.channels];
  return { width: info.width, height: info.height, data: out };
}

/**
 * Label values → 0/1. With `label`, pixels equal to it. Without: 0/1 masks take 1, 0/255 masks take 255,
 * masks with many grey levels (lossy formats) are thresholded at half their maximum, and multi-label masks
 * (a few distinct values) are refused, because which structure is meant must be said.
 */
export function binariseMask(values: Float32Array, label?: number): Uint8Array {
  const mask = new Uint8Array(values.length);
  if (label !== undefined) {
    for (let i = 0; i < values.length; i++) mask[i] = Math.round(values[i]) === label ? 1 : 0;
    return mask;
  }
  const distinct = new Set<number>();
  for (let i = 0; i < values.length && distinct.size <= 32; i++) distinct.add(values[i]);
  let max = 0;
  for (let i = 0; i < values.length; i++) if (values[i] > max) max = values[i];
  const only = (allowed: number[]) => [...distinct].every((v) => allowed.includes(v));
  if (only([0, 1]) || only([0, 255]) || only([0, 65535])) {
    for (let i = 0; i < values.length; i++) mask[i] = values[i] > 0 ? 1 : 0;
    return mask;
  }
  if (distinct.size <= 16) {
    const levels = [...distinct].sort((a, b) => a - b).join(', ');
    throw new Error(`mask has several labels (${levels}); choose one with the label option (e.g. label 1 for the LV cavity in CAMUS).`);
  }
  for (let i = 0; i < values.length; i++) mask[i] = values[i] >= max / 2 ? 1 : 0;
  return mask;
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
