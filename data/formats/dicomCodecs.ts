/**
 * Decoders for the compressed (encapsulated) DICOM transfer syntaxes the ultrasound importer reads:
 * JPEG baseline through sharp, JPEG lossless (process 14) through jpeg-lossless-decoder-js, JPEG-LS and
 * JPEG 2000 through the cornerstone WASM builds of CharLS and OpenJPEG, and DICOM RLE (PS3.5 annex G) here.
 * Every decoder returns the frame's samples as stored (no colour conversion of its own except where the
 * codec does one by definition: baseline JPEG's YCbCr and JPEG 2000's multi-component transform give RGB).
 */
import { createRequire } from 'node:module';
import sharp from 'sharp';

const require = createRequire(import.meta.url);

export interface DecodedFrame {
  width: number;
  height: number;
  /** Samples per pixel: 1 or 3. */
  components: number;
  /** Unsigned container values; 8-bit codecs give Uint8Array, deeper ones Uint16Array (two's complement kept). */
  values: Uint8Array | Uint16Array;
  /** true: all of component 0, then component 1, …; false: the components of one pixel together. */
  planar: boolean;
  /** The codec already turned the samples into RGB (baseline JPEG's YCbCr, JPEG 2000's RCT/ICT). */
  rgb: boolean;
}

/** A frame's compressed data did not decode. */
export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

/**
 * DICOM RLE (PS3.5 G): a 64-byte header (segment count, then 15 little-endian byte offsets), then one PackBits
 * segment per byte plane: for each sample, its most significant byte first. A control byte n in 0..127 copies
 * the next n + 1 bytes, n in -127..-1 repeats the next byte 1 - n times, -128 does nothing. Returns planar samples.
 */
export function decodeRle(fragment: Uint8Array, rows: number, columns: number, samplesPerPixel: number, bitsAllocated: number): DecodedFrame {
  if (bitsAllocated !== 8 && bitsAllocated !== 16) throw new CodecError(`RLE with ${bitsAllocated} bits allocated is not supported (8 or 16).`);
  if (fragment.length < 64) throw new CodecError(`RLE frame has ${fragment.length} bytes, fewer than its 64-byte header.`);
  const view = new DataView(fragment.buffer, fragment.byteOffset, fragment.byteLength);
  const bytesPerSample = bitsAllocated / 8;
  const expected = samplesPerPixel * bytesPerSample;
  const count = view.getUint32(0, true);
  if (count !== expected) throw new CodecError(`RLE frame has ${count} segment(s); ${samplesPerPixel} sample(s) of ${bitsAllocated} bits need ${expected}.`);
  const offsets = Array.from({ length: count }, (_, i) => view.getUint32(4 + 4 * i, true));
  const pixels = rows * columns;
  const planes: Uint8Array[] = [];
  for (let s = 0; s < count; s++) {
    const start = offsets[s];
    const end = s + 1 < count ? offsets[s + 1] : fragment.length;
    if (start < 64 || end > fragment.length || start > end) throw new CodecError(`RLE segment ${s + 1} has offsets outside the frame (${start}–${end} of ${fragment.length} bytes).`);
    planes.push(unpackBits(fragment.subarray(start, end), pixels, s + 1));
  }
  let values: Uint8Array | Uint16Array;
  if (bytesPerSample === 1) {
    values = new Uint8Array(pixels * samplesPerPixel);
    planes.forEach((plane, c) => values.set(plane, c * pixels));
  } else {
    const wide = new Uint16Array(pixels * samplesPerPixel);
    for (let c = 0; c < samplesPerPixel; c++) {
      const high = planes[2 * c];
      const low = planes[2 * c + 1];
      for (let p = 0; p < pixels; p++) wide[c * pixels + p] = (high[p] << 8) | low[p];
    }
    values = wide;
  }
  return { width: columns, height: rows, components: samplesPerPixel, values, planar: true, rgb: false };
}

function unpackBits(segment: Uint8Array, length: number, number: number): Uint8Array {
  const out = new Uint8Array(length);
  let read = 0;
  let written = 0;
  while (written < length && read < segment.length) {
    const control = segment[read++];
    if (control < 128) {
      const n = control + 1;
      if (read + n > segment.length) break;
      out.set(segment.subarray(read, read + Math.min(n, length - written)), written);
      read += n;
      written += n;
    } else if (control > 128) {
      if (read >= segment.length) break;
      const n = 257 - control;
      out.fill(segment[read++], written, Math.min(length, written + n));
      written += n;
    }
  }
  if (written < length) throw new CodecError(`RLE segment ${number} decodes to ${written} of ${length} bytes: the data is truncated or damaged.`);
  return out;
}

/** Whether a JPEG stream carries a JFIF (APP0) or Adobe (APP14) marker before its first scan. */
function colourMarkers(jpeg: Uint8Array): { jfif: boolean; adobe: boolean } {
  const found = { jfif: false, adobe: false };
  let at = 2;
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff) {
    const marker = jpeg[at + 1];
    if (marker === 0xda || marker === 0xd9) break;
    const length = (jpeg[at + 2] << 8) | jpeg[at + 3];
    const tag = String.fromCharCode(...jpeg.subarray(at + 4, Math.min(jpeg.length, at + 9)));
    if (marker === 0xe0 && tag.startsWith('JFIF')) found.jfif = true;
    if (marker === 0xee && tag === 'Adobe') found.adobe = true;
    at += 2 + length;
  }
  return found;
}

/** An Adobe APP14 segment with transform 0: the three components are not YCbCr, decode them as they are. */
const adobeNoTransform = Uint8Array.from([0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00]);

/**
 * Baseline JPEG (process 1, 8 bits) through libjpeg in sharp; a truncated stream is an error, not a grey fill.
 * Colour: a JFIF or Adobe marker in the stream decides, as libjpeg does; without either, the DICOM photometric
 * interpretation does (RGB: the components were coded without the YCbCr transform, so none is undone).
 */
export async function decodeJpegBaseline(fragment: Uint8Array, photometric: string): Promise<DecodedFrame> {
  let stream = fragment;
  if (photometric === 'RGB' && fragment[0] === 0xff && fragment[1] === 0xd8) {
    const markers = colourMarkers(fragment);
    if (!markers.jfif && !markers.adobe) {
      stream = new Uint8Array(fragment.length + adobeNoTransform.length);
      stream.set(fragment.subarray(0, 2));
      stream.set(adobeNoTransform, 2);
      stream.set(fragment.subarray(2), 2 + adobeNoTransform.length);
    }
  }
  try {
    const input = () => sharp(stream, { failOn: 'warning', limitInputPixels: 1 << 28 });
    // libvips hands out a one-component JPEG as sRGB unless asked to keep it grey.
    const grey = (await input().metadata()).channels === 1;
    const { data, info } = await (grey ? input().toColourspace('b-w') : input()).raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 && info.channels !== 3) throw new CodecError(`JPEG frame decodes to ${info.channels} channels; 1 or 3 are supported.`);
    return { width: info.width, height: info.height, components: info.channels, values: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), planar: false, rgb: info.channels === 3 };
  } catch (error) {
    if (error instanceof CodecError) throw error;
    throw new CodecError(`JPEG baseline frame does not decode (${(error as Error).message.trim()}).`);
  }
}

interface LosslessDecoder {
  decode(buffer: ArrayBuffer, offset: number, length: number): Uint8Array | Uint16Array;
  xDim: number;
  yDim: number;
  numComp: number;
}

const { Decoder: LosslessJpegDecoder } = require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder };

/** JPEG lossless, non-hierarchical (process 14, any predictor; 8-bit colour or up to 16-bit grey). */
export function decodeJpegLossless(fragment: Uint8Array): DecodedFrame {
  const decoder = new LosslessJpegDecoder();
  let values: Uint8Array | Uint16Array;
  try {
    // A copy of its own: the decoder reads from offset 0 of the buffer (a Buffer's slice would share the whole file's).
    const copy = new Uint8Array(fragment);
    values = decoder.decode(copy.buffer, 0, copy.byteLength);
  } catch (error) {
    throw new CodecError(`JPEG lossless frame does not decode (${(error as Error).message ?? String(error)}).`);
  }
  const expected = decoder.xDim * decoder.yDim * decoder.numComp;
  if (!values || values.length !== expected || expected === 0) throw new CodecError('JPEG lossless frame does not decode to a whole image.');
  return { width: decoder.xDim, height: decoder.yDim, components: decoder.numComp, values, planar: false, rgb: false };
}

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
}

interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}

interface CharLS {
  JpegLSDecoder: new () => WasmDecoder & { getInterleaveMode(): number };
}

interface OpenJpeg {
  J2KDecoder: new () => WasmDecoder;
}

type WasmFactory<T> = (options: { print: (text: string) => void; printErr: (text: string) => void }) => Promise<T>;

/** OpenJPEG reports problems on stderr only; the last lines say why a frame failed. */
const wasmMessages: string[] = [];
const keepMessage = (text: string) => {
  wasmMessages.push(text);
  if (wasmMessages.length > 20) wasmMessages.shift();
};

let charls: Promise<CharLS> | undefined;
let openJpeg: Promise<OpenJpeg> | undefined;

function loadWasm<T>(specifier: string, what: string): Promise<T> {
  let factory: WasmFactory<T>;
  try {
    factory = require(specifier) as WasmFactory<T>;
  } catch (error) {
    return Promise.reject(new CodecError(`the ${what} decoder (${specifier}) is not installed (${(error as Error).message}).`));
  }
  return factory({ print: () => {}, printErr: keepMessage }).catch((error: unknown) => {
    throw new CodecError(`the ${what} decoder (${specifier}) could not start: ${(error as Error).message ?? String(error)}.`);
  });
}

async function runWasmDecoder<D extends WasmDecoder>(decoder: D, fragment: Uint8Array, what: string): Promise<{ info: FrameInfo; bytes: Uint8Array; decoder: D }> {
  wasmMessages.length = 0;
  decoder.getEncodedBuffer(fragment.length).set(fragment);
  try {
    decoder.decode();
  } catch {
    const reason = wasmMessages.filter((m) => /error/i.test(m)).at(-1)?.replace(/^\[ERROR\]\s*/, '').trim();
    throw new CodecError(`${what} frame does not decode${reason ? ` (${reason})` : ''}: the data is damaged or truncated.`);
  }
  const info = decoder.getFrameInfo();
  return { info, bytes: new Uint8Array(decoder.getDecodedBuffer()), decoder };
}

function samplesOf(bytes: Uint8Array, bitsPerSample: number): Uint8Array | Uint16Array {
  if (bitsPerSample <= 8) return bytes;
  return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
}

/** JPEG-LS lossless and near-lossless (CharLS). Interleave mode 0 gives planes; line and sample modes give pixels together. */
export async function decodeJpegLs(fragment: Uint8Array): Promise<DecodedFrame> {
  charls ??= loadWasm<CharLS>('@cornerstonejs/codec-charls/wasmjs', 'JPEG-LS');
  const codec = await charls;
  const decoder = new codec.JpegLSDecoder();
  try {
    const { info, bytes } = await runWasmDecoder(decoder, fragment, 'JPEG-LS');
    const planar = info.componentCount > 1 && decoder.getInterleaveMode() === 0;
    return { width: info.width, height: info.height, components: info.componentCount, values: samplesOf(bytes, info.bitsPerSample), planar, rgb: false };
  } finally {
    decoder.delete();
  }
}

/** JPEG 2000 (OpenJPEG): components come interleaved; a multi-component transform in the stream is undone, giving RGB. */
export async function decodeJpeg2000(fragment: Uint8Array, photometric: string): Promise<DecodedFrame> {
  openJpeg ??= loadWasm<OpenJpeg>('@cornerstonejs/codec-openjpeg/wasmjs', 'JPEG 2000');
  const codec = await openJpeg;
  const decoder = new codec.J2KDecoder();
  try {
    const { info, bytes } = await runWasmDecoder(decoder, fragment, 'JPEG 2000');
    const rgb = photometric === 'YBR_RCT' || photometric === 'YBR_ICT';
    return { width: info.width, height: info.height, components: info.componentCount, values: samplesOf(bytes, info.bitsPerSample), planar: false, rgb };
  } finally {
    decoder.delete();
  }
}
