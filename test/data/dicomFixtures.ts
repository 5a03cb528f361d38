/**
 * Test-only DICOM Part-10 writer: tiny multi-frame images in every transfer syntax and photometric interpretation
 * the importer reads, with distinctive fake identifying attributes so tests can prove none of them leaks.
 * Encoders: native (little/big endian, implicit/explicit VR), RLE (PackBits per row, here), JPEG lossless process 14
 * with predictor 1 and one Huffman table (here), JPEG baseline (sharp), JPEG-LS and JPEG 2000 (the cornerstone WASM
 * codecs' encoders). The product's reader never uses this code.
 */
import { createRequire } from 'node:module';
import { deflateRawSync } from 'node:zlib';
import sharp from 'sharp';

const require = createRequire(import.meta.url);

export const transferSyntax = {
  implicit: '1.2.840.10008.1.2',
  explicit: '1.2.840.10008.1.2.1',
  deflated: '1.2.840.10008.1.2.1.99',
  bigEndian: '1.2.840.10008.1.2.2',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegLossless: '1.2.840.10008.1.2.4.57',
  jpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  rle: '1.2.840.10008.1.2.5',
  jpegLs: '1.2.840.10008.1.2.4.80',
  jpegLsNear: '1.2.840.10008.1.2.4.81',
  jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  jpeg2000: '1.2.840.10008.1.2.4.91',
  /** Not supported by the reader (skip reason). */
  mpeg4: '1.2.840.10008.1.2.4.102',
} as const;

export const sopClass = {
  us: '1.2.840.10008.5.1.4.1.1.6.1',
  usMultiFrame: '1.2.840.10008.5.1.4.1.1.3.1',
  secondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
  scMultiFrameByte: '1.2.840.10008.5.1.4.1.1.7.2',
  scMultiFrameWord: '1.2.840.10008.5.1.4.1.1.7.3',
  scMultiFrameColour: '1.2.840.10008.5.1.4.1.1.7.4',
  /** Not imported (skip reason). */
  ct: '1.2.840.10008.5.1.4.1.1.2',
} as const;

/** Fake identifying attributes; every value is distinctive so a search of stored bytes finds any leak. */
export interface Identity {
  patientName: string;
  patientId: string;
  birthDate: string;
  accession: string;
  institution: string;
  referringPhysician: string;
  studyUid: string;
  seriesUid: string;
  instanceUid: string;
}

const uidRoot = '1.2.826.0.1.3680043.9.7781';

/** An identity whose values carry `tag` (e.g. a patient number) so several fixtures differ. */
export function fakeIdentity(study: number, series: number, instance: number): Identity {
  return {
    patientName: `ZZQUIXOTE^HIPPOLYTA${study}`,
    patientId: `PID-8861${study}0042`,
    birthDate: `1931040${study % 10}`,
    accession: `ACCX7731${study}`,
    institution: 'Saint Zebulon Infirmary',
    referringPhysician: 'DRWOMBAT^KALLIOPE',
    studyUid: `${uidRoot}.4401${study}`,
    seriesUid: `${uidRoot}.4401${study}.77${series}`,
    instanceUid: `${uidRoot}.4401${study}.77${series}.99${instance}`,
  };
}

export interface FixtureRegion {
  spatialFormat: number;
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  /** Physical units (3 = cm) and delta per pixel. */
  units?: number;
  deltaX?: number;
  deltaY?: number;
}

export type FixturePhotometric = 'MONOCHROME1' | 'MONOCHROME2' | 'RGB' | 'YBR_FULL' | 'YBR_FULL_422' | 'PALETTE COLOR' | 'YBR_RCT';

export interface FixtureSpec {
  transferSyntax: string;
  photometric: FixturePhotometric;
  sopClass?: string;
  rows?: number;
  columns?: number;
  frames?: number;
  bitsAllocated?: 8 | 16;
  bitsStored?: number;
  highBit?: number;
  signed?: boolean;
  planar?: 0 | 1;
  /** Put noise in the container bits above High Bit (native 16-bit only), as overlay bits would. */
  highBitsNoise?: boolean;
  /** 8-bit native pixel data's VR; big endian with OW swaps byte pairs. */
  pixelVr?: 'OB' | 'OW';
  identity?: Identity;
  regions?: FixtureRegion[];
  pixelSpacing?: [number, number];
  window?: { center: number; width: number; fn?: 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID' };
  /** Encapsulated: write a basic offset table (default) or leave it empty. */
  offsetTable?: boolean;
  /** Encapsulated: split each frame into this many fragments. */
  fragmentsPerFrame?: number;
  /** JPEG-LS: near-lossless error bound (with 4.81). */
  nearLossless?: number;
  /** JPEG-LS interleave mode (colour): 0 none, 1 line, 2 sample. */
  interleave?: 0 | 1 | 2;
  /** Omit the Study Instance UID (to test the fallback). */
  noStudyUid?: boolean;
  /** PALETTE COLOR: write the LUTs as segmented data (discrete and linear segments) instead of plain tables. */
  segmentedPalette?: boolean;
}

/** What the pixels mean, for the tests' independent expected values. */
export type SampleModel = 'mono' | 'rgb' | 'ybr' | 'palette';

export interface WrittenDicom {
  bytes: Uint8Array;
  /** Per frame: the stored values, pixel by pixel with their components together (Y, Cb, Cr for 'ybr'). */
  samples: Int32Array[];
  model: SampleModel;
  rows: number;
  columns: number;
  bitsStored: number;
  /** PALETTE COLOR: the 16-bit LUTs (256 entries, first mapped 0). */
  palette?: { red: Uint16Array; green: Uint16Array; blue: Uint16Array };
}

// ---------------------------------------------------------------------------------------------- pixel values

function componentsOf(photometric: FixturePhotometric): number {
  return photometric === 'MONOCHROME1' || photometric === 'MONOCHROME2' || photometric === 'PALETTE COLOR' ? 1 : 3;
}

/** Smooth ramps with a little texture, different in every frame and component (JPEG-friendly, never flat). */
function pattern8(frame: number, x: number, y: number, c: number): number {
  return 10 + 3 * x + 3 * y + 8 * frame + 25 * c + ((x * y + 3 * frame + c) % 5) * 2;
}

function modelOf(spec: FixtureSpec): SampleModel {
  if (spec.photometric === 'PALETTE COLOR') return 'palette';
  if (componentsOf(spec.photometric) === 1) return 'mono';
  // Baseline JPEG and JPEG 2000 with a colour transform are encoded from RGB; the codec's transform is undone on decoding.
  if (spec.transferSyntax === transferSyntax.jpegBaseline || spec.photometric === 'YBR_RCT') return 'rgb';
  return spec.photometric === 'RGB' ? 'rgb' : 'ybr';
}

function toYbr(r: number, g: number, b: number): [number, number, number] {
  const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
  return [clamp(0.299 * r + 0.587 * g + 0.114 * b), clamp(-0.168736 * r - 0.331264 * g + 0.5 * b + 128), clamp(0.5 * r - 0.418688 * g - 0.081312 * b + 128)];
}

function makeSamples(spec: Required<Pick<FixtureSpec, 'rows' | 'columns' | 'frames' | 'bitsStored'>> & FixtureSpec, model: SampleModel): Int32Array[] {
  const { rows, columns, frames, bitsStored } = spec;
  const spp = componentsOf(spec.photometric);
  const max = 2 ** bitsStored - 1;
  const out: Int32Array[] = [];
  for (let f = 0; f < frames; f++) {
    const samples = new Int32Array(rows * columns * spp);
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < columns; x++) {
        const at = (y * columns + x) * spp;
        if (model === 'ybr') {
          const [r, g, b] = [0, 1, 2].map((c) => pattern8(f, x, y, c));
          samples.set(toYbr(r, g, b), at);
          continue;
        }
        for (let c = 0; c < spp; c++) {
          const base = pattern8(f, x, y, c);
          if (bitsStored <= 8) {
            samples[at + c] = Math.min(max, base);
          } else {
            const scale = Math.floor((max - 16) / 256);
            const value = base * scale + ((x * 7 + y * 11 + f * 3 + c) % 13);
            samples[at + c] = spec.signed ? value - 2 ** (bitsStored - 1) : value;
          }
        }
      }
    }
    if (model === 'ybr' && spec.photometric === 'YBR_FULL_422') {
      // Horizontal pairs share their chroma.
      for (let i = 0; i < rows * columns; i += 2) {
        for (const c of [1, 2]) {
          const mean = Math.round((samples[i * 3 + c] + samples[(i + 1) * 3 + c]) / 2);
          samples[i * 3 + c] = mean;
          samples[(i + 1) * 3 + c] = mean;
        }
      }
    }
    out.push(samples);
  }
  return out;
}

// ------------------------------------------------------------------------------------------- data elements

type Vr = 'AE' | 'AT' | 'CS' | 'DA' | 'DS' | 'FD' | 'IS' | 'LO' | 'OB' | 'OW' | 'PN' | 'SH' | 'SQ' | 'TM' | 'UI' | 'UL' | 'US';

interface DataElement {
  tag: number;
  vr: Vr;
  value: Uint8Array | DataElement[][];
}

interface Encoding {
  explicit: boolean;
  littleEndian: boolean;
}

const longLengthVrs = new Set<Vr>(['OB', 'OW', 'SQ']);

function text(value: string, vr: Vr): Uint8Array {
  const padded = value.length % 2 === 0 ? value : value + (vr === 'UI' ? '\0' : ' ');
  return new TextEncoder().encode(padded);
}

function numbers(values: number[], bytes: 2 | 4 | 8, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(values.length * bytes);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (bytes === 2) view.setUint16(i * 2, v, littleEndian);
    else if (bytes === 4) view.setUint32(i * 4, v, littleEndian);
    else view.setFloat64(i * 8, v, littleEndian);
  });
  return out;
}

class ByteWriter {
  private chunks: Uint8Array[] = [];
  length = 0;
  constructor(private readonly littleEndian: boolean) {}
  bytes(data: Uint8Array): void {
    this.chunks.push(data);
    this.length += data.length;
  }
  u16(value: number): void {
    this.bytes(numbers([value], 2, this.littleEndian));
  }
  u32(value: number): void {
    this.bytes(numbers([value], 4, this.littleEndian));
  }
  tag(tag: number): void {
    this.u16(tag >>> 16);
    this.u16(tag & 0xffff);
  }
  ascii(value: string): void {
    this.bytes(new TextEncoder().encode(value));
  }
  result(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

function writeElements(writer: ByteWriter, elements: DataElement[], encoding: Encoding): void {
  for (const element of [...elements].sort((a, b) => a.tag - b.tag)) {
    writer.tag(element.tag);
    if (element.vr === 'SQ') {
      // Undefined-length sequence and items, closed by delimiters.
      if (encoding.explicit) {
        writer.ascii('SQ');
        writer.u16(0);
      }
      writer.u32(0xffffffff);
      for (const item of element.value as DataElement[][]) {
        writer.tag(0xfffee000);
        writer.u32(0xffffffff);
        writeElements(writer, item, encoding);
        writer.tag(0xfffee00d);
        writer.u32(0);
      }
      writer.tag(0xfffee0dd);
      writer.u32(0);
      continue;
    }
    const value = element.value as Uint8Array;
    if (encoding.explicit) {
      writer.ascii(element.vr);
      if (longLengthVrs.has(element.vr)) {
        writer.u16(0);
        writer.u32(value.length);
      } else {
        writer.u16(value.length);
      }
    } else {
      writer.u32(value.length);
    }
    writer.bytes(value);
  }
}

function encapsulated(frames: Uint8Array[][], offsetTable: boolean): Uint8Array {
  const writer = new ByteWriter(true);
  const offsets: number[] = [];
  const body = new ByteWriter(true);
  for (const fragments of frames) {
    offsets.push(body.length);
    for (const fragment of fragments) {
      const padded = fragment.length % 2 === 0 ? fragment : Uint8Array.from([...fragment, 0]);
      body.tag(0xfffee000);
      body.u32(padded.length);
      body.bytes(padded);
    }
  }
  writer.tag(0xfffee000);
  writer.u32(offsetTable ? offsets.length * 4 : 0);
  if (offsetTable) for (const offset of offsets) writer.u32(offset);
  writer.bytes(body.result());
  writer.tag(0xfffee0dd);
  writer.u32(0);
  return writer.result();
}

// ------------------------------------------------------------------------------------------------ encoders

/** PackBits, each row on its own (DICOM RLE's recommendation): runs of 2+ equal bytes repeat, others are literals. */
export function packBits(data: Uint8Array, rowLength: number): Uint8Array {
  const out: number[] = [];
  for (let rowStart = 0; rowStart < data.length; rowStart += rowLength) {
    const row = data.subarray(rowStart, Math.min(data.length, rowStart + rowLength));
    let i = 0;
    while (i < row.length) {
      let run = 1;
      while (i + run < row.length && row[i + run] === row[i] && run < 128) run++;
      if (run >= 2) {
        out.push(257 - run, row[i]);
        i += run;
        continue;
      }
      let end = i + 1;
      while (end < row.length && end - i < 128 && !(end + 1 < row.length && row[end] === row[end + 1])) end++;
      out.push(end - i - 1, ...row.subarray(i, end));
      i = end;
    }
  }
  if (out.length % 2 === 1) out.push(0x80);
  return Uint8Array.from(out);
}

function rleFrame(samples: Int32Array, spec: { rows: number; columns: number; spp: number; bitsAllocated: number }): Uint8Array {
  const pixels = spec.rows * spec.columns;
  const bytesPerSample = spec.bitsAllocated / 8;
  const segments: Uint8Array[] = [];
  for (let c = 0; c < spec.spp; c++) {
    for (let b = bytesPerSample - 1; b >= 0; b--) {
      const plane = new Uint8Array(pixels);
      for (let p = 0; p < pixels; p++) plane[p] = (samples[p * spec.spp + c] >> (8 * b)) & 0xff;
      segments.push(packBits(plane, spec.columns));
    }
  }
  const header = new Uint8Array(64);
  const view = new DataView(header.buffer);
  view.setUint32(0, segments.length, true);
  let offset = 64;
  segments.forEach((segment, i) => {
    view.setUint32(4 + 4 * i, offset, true);
    offset += segment.length;
  });
  const out = new Uint8Array(offset);
  out.set(header);
  let at = 64;
  for (const segment of segments) {
    out.set(segment, at);
    at += segment.length;
  }
  return out;
}

/**
 * JPEG lossless (process 14), predictor 1, one DC Huffman table giving every difference category 0–16 a 5-bit code
 * (17 codes, none all ones). Components interleaved, one pixel per MCU.
 */
export function encodeJpegLossless(samples: Int32Array, width: number, height: number, components: number, precision: number): Uint8Array {
  const out: number[] = [];
  const marker = (code: number, payload: number[]) => out.push(0xff, code, ((payload.length + 2) >> 8) & 0xff, (payload.length + 2) & 0xff, ...payload);
  out.push(0xff, 0xd8);
  const frame = [precision, height >> 8, height & 0xff, width >> 8, width & 0xff, components];
  for (let c = 0; c < components; c++) frame.push(c + 1, 0x11, 0);
  marker(0xc3, frame);
  const bits = new Array(16).fill(0);
  bits[4] = 17;
  marker(0xc4, [0x00, ...bits, ...Array.from({ length: 17 }, (_, i) => i)]);
  const scan = [components];
  for (let c = 0; c < components; c++) scan.push(c + 1, 0x00);
  scan.push(1, 0, 0);
  marker(0xda, scan);
  let accumulator = 0;
  let count = 0;
  const put = (value: number, length: number) => {
    for (let i = length - 1; i >= 0; i--) {
      accumulator = (accumulator << 1) | ((value >> i) & 1);
      count++;
      if (count === 8) {
        out.push(accumulator);
        if (accumulator === 0xff) out.push(0);
        accumulator = 0;
        count = 0;
      }
    }
  };
  const at = (x: number, y: number, c: number) => samples[(y * width + x) * components + c];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < components; c++) {
        const prediction = x === 0 && y === 0 ? 1 << (precision - 1) : x === 0 ? at(x, y - 1, c) : at(x - 1, y, c);
        let diff = (at(x, y, c) - prediction) & 0xffff;
        if (diff >= 0x8000) diff -= 0x10000;
        const category = diff === 0 ? 0 : diff === -0x8000 ? 16 : Math.floor(Math.log2(Math.abs(diff))) + 1;
        put(category, 5);
        if (category > 0 && category < 16) put(diff > 0 ? diff : diff + (1 << category) - 1, category);
      }
    }
  }
  if (count > 0) put(0xff, 8 - count);
  out.push(0xff, 0xd9);
  return Uint8Array.from(out);
}

async function jpegBaseline(samples: Int32Array, width: number, height: number, components: number): Promise<Uint8Array> {
  const raw = Uint8Array.from(samples);
  const image = sharp(raw, { raw: { width, height, channels: components as 1 | 3 } });
  const jpeg = await (components === 1 ? image.toColourspace('b-w') : image).jpeg({ quality: 95 }).toBuffer();
  return new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
}

interface WasmEncoder {
  getDecodedBuffer(info: { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean }): Uint8Array;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  delete(): void;
  setNearLossless?(value: number): void;
  setInterleaveMode?(value: number): void;
  setDecompositions?(value: number): void;
}

type WasmFactory = (options: object) => Promise<Record<string, new () => WasmEncoder>>;
const codecs = new Map<string, Promise<Record<string, new () => WasmEncoder>>>();

function wasm(specifier: string) {
  let codec = codecs.get(specifier);
  if (!codec) {
    codec = (require(specifier) as WasmFactory)({ print: () => {}, printErr: () => {} });
    codecs.set(specifier, codec);
  }
  return codec;
}

function containerBytes(samples: Int32Array, bitsAllocated: number): Uint8Array {
  if (bitsAllocated === 8) return Uint8Array.from(samples);
  const out = new Uint8Array(samples.length * 2);
  const view = new DataView(out.buffer);
  samples.forEach((v, i) => view.setUint16(i * 2, v & 0xffff, true));
  return out;
}

async function wasmEncode(
  specifier: string,
  className: string,
  samples: Int32Array,
  info: { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean },
  bitsAllocated: number,
  configure: (encoder: WasmEncoder) => void,
): Promise<Uint8Array> {
  const codec = await wasm(specifier);
  const encoder = new codec[className]();
  try {
    configure(encoder);
    encoder.getDecodedBuffer(info).set(containerBytes(samples, bitsAllocated));
    encoder.encode();
    return encoder.getEncodedBuffer().slice();
  } finally {
    encoder.delete();
  }
}

function toPlanar(samples: Int32Array, components: number): Int32Array {
  const pixels = samples.length / components;
  const out = new Int32Array(samples.length);
  for (let p = 0; p < pixels; p++) for (let c = 0; c < components; c++) out[c * pixels + p] = samples[p * components + c];
  return out;
}

// ------------------------------------------------------------------------------------------------- writer

function nativePixelData(frames: Int32Array[], spec: Required<Pick<FixtureSpec, 'rows' | 'columns' | 'bitsStored' | 'highBit'>> & FixtureSpec, littleEndian: boolean): { vr: Vr; bytes: Uint8Array } {
  const spp = componentsOf(spec.photometric);
  const bitsAllocated = spec.bitsAllocated ?? 8;
  const mask = 2 ** spec.bitsStored - 1;
  const shift = spec.highBit + 1 - spec.bitsStored;
  const containers: number[] = [];
  for (const [f, samples] of frames.entries()) {
    let ordered: Int32Array;
    if (spec.photometric === 'YBR_FULL_422') {
      ordered = new Int32Array(samples.length * 2 / 3);
      for (let i = 0, o = 0; i < samples.length / 3; i += 2, o += 4) {
        ordered[o] = samples[i * 3];
        ordered[o + 1] = samples[(i + 1) * 3];
        ordered[o + 2] = samples[i * 3 + 1];
        ordered[o + 3] = samples[i * 3 + 2];
      }
    } else {
      ordered = spec.planar === 1 ? toPlanar(samples, spp) : samples;
    }
    ordered.forEach((v, i) => {
      const noise = spec.highBitsNoise ? ((i * 5 + f) % 7) + 1 : 0;
      const stored = (v & mask) << shift;
      containers.push(bitsAllocated === 16 ? (stored | (noise << (spec.highBit + 1))) & 0xffff : stored);
    });
  }
  if (bitsAllocated === 16) return { vr: 'OW', bytes: numbers(containers, 2, littleEndian) };
  let bytes = Uint8Array.from(containers);
  if (bytes.length % 2 === 1) bytes = Uint8Array.from([...bytes, 0]);
  const vr = spec.pixelVr ?? 'OB';
  if (!littleEndian && vr === 'OW') {
    for (let i = 0; i < bytes.length; i += 2) [bytes[i], bytes[i + 1]] = [bytes[i + 1], bytes[i]];
  }
  return { vr, bytes };
}

async function compressedFrames(frames: Int32Array[], spec: Required<Pick<FixtureSpec, 'rows' | 'columns' | 'bitsStored'>> & FixtureSpec): Promise<Uint8Array[]> {
  const spp = componentsOf(spec.photometric);
  const bitsAllocated = spec.bitsAllocated ?? 8;
  const { rows, columns, bitsStored } = spec;
  const ts = spec.transferSyntax;
  const info = { width: columns, height: rows, bitsPerSample: bitsStored, componentCount: spp, isSigned: spec.signed ?? false };
  const out: Uint8Array[] = [];
  for (const samples of frames) {
    const unsigned = spec.signed ? samples.map((v) => v & (2 ** bitsStored - 1)) : samples;
    if (ts === transferSyntax.rle) out.push(rleFrame(unsigned, { rows, columns, spp, bitsAllocated }));
    else if (ts === transferSyntax.jpegBaseline) out.push(await jpegBaseline(samples, columns, rows, spp));
    else if (ts === transferSyntax.jpegLossless || ts === transferSyntax.jpegLosslessSV1) out.push(encodeJpegLossless(unsigned, columns, rows, spp, bitsStored));
    else if (ts === transferSyntax.jpegLs || ts === transferSyntax.jpegLsNear) {
      const interleave = spp === 1 ? 0 : spec.interleave ?? 2;
      const input = interleave === 0 ? toPlanar(samples, spp) : samples;
      out.push(await wasmEncode('@cornerstonejs/codec-charls/wasmjs', 'JpegLSEncoder', input, info, bitsAllocated, (e) => {
        e.setInterleaveMode!(interleave);
        if (spec.nearLossless) e.setNearLossless!(spec.nearLossless);
      }));
    } else if (ts === transferSyntax.jpeg2000Lossless || ts === transferSyntax.jpeg2000) {
      out.push(await wasmEncode('@cornerstonejs/codec-openjpeg/wasmjs', 'J2KEncoder', samples, info, bitsAllocated, (e) => e.setDecompositions!(2)));
    } else {
      throw new Error(`fixture writer: no encoder for transfer syntax ${ts}`);
    }
  }
  return out;
}

function split(bytes: Uint8Array, parts: number): Uint8Array[] {
  const size = Math.ceil(bytes.length / parts / 2) * 2;
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, Math.min(bytes.length, at + size)));
  return out;
}

const nativeSyntaxes = new Set<string>([transferSyntax.implicit, transferSyntax.explicit, transferSyntax.deflated, transferSyntax.bigEndian, transferSyntax.mpeg4]);

/** Writes one DICOM Part-10 file (bytes) and returns the stored values it holds. */
export async function writeDicom(spec: FixtureSpec): Promise<WrittenDicom> {
  const rows = spec.rows ?? 24;
  const columns = spec.columns ?? 32;
  const frames = spec.frames ?? 3;
  const bitsAllocated = spec.bitsAllocated ?? 8;
  const bitsStored = spec.bitsStored ?? bitsAllocated;
  const highBit = spec.highBit ?? bitsStored - 1;
  const spp = componentsOf(spec.photometric);
  const identity = spec.identity ?? fakeIdentity(1, 1, 1);
  const sop = spec.sopClass ?? (frames > 1 ? sopClass.usMultiFrame : sopClass.us);
  const model = modelOf(spec);
  const full = { ...spec, rows, columns, frames, bitsStored, highBit };
  const samples = makeSamples(full, model);

  const ts = spec.transferSyntax;
  const littleEndian = ts !== transferSyntax.bigEndian;
  const encoding: Encoding = { explicit: ts !== transferSyntax.implicit, littleEndian };
  const ui = (tag: number, value: string): DataElement => ({ tag, vr: 'UI', value: text(value, 'UI') });
  const str = (tag: number, vr: Vr, value: string): DataElement => ({ tag, vr, value: text(value, vr) });
  const us = (tag: number, ...values: number[]): DataElement => ({ tag, vr: 'US', value: numbers(values, 2, littleEndian) });
  const ul = (tag: number, value: number): DataElement => ({ tag, vr: 'UL', value: numbers([value], 4, littleEndian) });
  const fd = (tag: number, value: number): DataElement => ({ tag, vr: 'FD', value: numbers([value], 8, littleEndian) });

  const elements: DataElement[] = [
    ui(0x00080016, sop),
    ui(0x00080018, identity.instanceUid),
    str(0x00080020, 'DA', '20240229'),
    str(0x00080050, 'SH', identity.accession),
    str(0x00080060, 'CS', 'US'),
    str(0x00080080, 'LO', identity.institution),
    str(0x00080090, 'PN', identity.referringPhysician),
    str(0x00100010, 'PN', identity.patientName),
    str(0x00100020, 'LO', identity.patientId),
    str(0x00100030, 'DA', identity.birthDate),
    ui(0x0020000e, identity.seriesUid),
    us(0x00280002, spp),
    str(0x00280004, 'CS', spec.photometric),
    us(0x00280010, rows),
    us(0x00280011, columns),
    us(0x00280100, bitsAllocated),
    us(0x00280101, bitsStored),
    us(0x00280102, highBit),
    us(0x00280103, spec.signed ? 1 : 0),
  ];
  if (!spec.noStudyUid) elements.push(ui(0x0020000d, identity.studyUid));
  if (spp === 3) elements.push(us(0x00280006, spec.planar ?? 0));
  if (frames > 1) elements.push(str(0x00280008, 'IS', String(frames)));
  if (spec.pixelSpacing) elements.push(str(0x00280030, 'DS', spec.pixelSpacing.join('\\')));
  if (spec.window) {
    elements.push(str(0x00281050, 'DS', String(spec.window.center)), str(0x00281051, 'DS', String(spec.window.width)));
    if (spec.window.fn) elements.push(str(0x00281056, 'CS', spec.window.fn));
  }
  if (spec.regions) {
    elements.push({
      tag: 0x00186011,
      vr: 'SQ',
      value: spec.regions.map((r) => [
        us(0x00186012, r.spatialFormat),
        us(0x00186014, r.spatialFormat === 1 ? 1 : 3),
        ul(0x00186016, 0),
        ul(0x00186018, r.minX),
        ul(0x0018601a, r.minY),
        ul(0x0018601c, r.maxX),
        ul(0x0018601e, r.maxY),
        ...(r.units !== undefined ? [us(0x00186024, r.units), us(0x00186026, r.units)] : []),
        ...(r.deltaX !== undefined ? [fd(0x0018602c, r.deltaX)] : []),
        ...(r.deltaY !== undefined ? [fd(0x0018602e, r.deltaY)] : []),
      ]),
    });
  }
  let palette: WrittenDicom['palette'];
  if (spec.photometric === 'PALETTE COLOR') {
    const entries = 256;
    palette = {
      red: Uint16Array.from({ length: entries }, (_, i) => i * 257),
      green: Uint16Array.from({ length: entries }, (_, i) => (255 - i) * 257),
      blue: Uint16Array.from({ length: entries }, (_, i) => ((i * 97) % 256) * 257),
    };
    for (const [n, lut] of [palette.red, palette.green, palette.blue].entries()) {
      elements.push(us(0x00281101 + n, entries, 0, 16));
      if (spec.segmentedPalette) {
        // Red and green are ramps: one discrete first entry, then one linear segment; blue is all discrete.
        const words = n < 2 ? [0, 1, lut[0], 1, entries - 1, lut[entries - 1]] : [0, entries, ...lut];
        elements.push({ tag: 0x00281221 + n, vr: 'OW', value: numbers(words, 2, littleEndian) });
      } else {
        elements.push({ tag: 0x00281201 + n, vr: 'OW', value: numbers(Array.from(lut), 2, littleEndian) });
      }
    }
  }
  if (nativeSyntaxes.has(ts)) {
    const pixelData = nativePixelData(samples, full, littleEndian);
    elements.push({ tag: 0x7fe00010, vr: pixelData.vr, value: pixelData.bytes });
  } else {
    const compressed = await compressedFrames(samples, full);
    const perFrame = compressed.map((bytes) => split(bytes, spec.fragmentsPerFrame ?? 1));
    const writer = new ByteWriter(littleEndian);
    writeElements(writer, elements, encoding);
    writer.tag(0x7fe00010);
    writer.ascii('OB');
    writer.u16(0);
    writer.u32(0xffffffff);
    writer.bytes(encapsulated(perFrame, spec.offsetTable ?? true));
    return { bytes: part10(identity, sop, ts, writer.result()), samples, model, rows, columns, bitsStored, ...(palette ? { palette } : {}) };
  }
  const writer = new ByteWriter(littleEndian);
  writeElements(writer, elements, encoding);
  const dataSet = ts === transferSyntax.deflated ? new Uint8Array(deflateRawSync(writer.result())) : writer.result();
  return { bytes: part10(identity, sop, ts, dataSet), samples, model, rows, columns, bitsStored, ...(palette ? { palette } : {}) };
}

function part10(identity: Identity, sop: string, ts: string, dataSet: Uint8Array): Uint8Array {
  const meta: DataElement[] = [
    { tag: 0x00020001, vr: 'OB', value: Uint8Array.from([0, 1]) },
    { tag: 0x00020002, vr: 'UI', value: text(sop, 'UI') },
    { tag: 0x00020003, vr: 'UI', value: text(identity.instanceUid, 'UI') },
    { tag: 0x00020010, vr: 'UI', value: text(ts, 'UI') },
    { tag: 0x00020012, vr: 'UI', value: text(`${uidRoot}.1`, 'UI') },
  ];
  const body = new ByteWriter(true);
  writeElements(body, meta, { explicit: true, littleEndian: true });
  const metaBytes = body.result();
  const writer = new ByteWriter(true);
  writer.bytes(new Uint8Array(128));
  writer.ascii('DICM');
  writeElements(writer, [{ tag: 0x00020000, vr: 'UL', value: numbers([metaBytes.length], 4, true) }], { explicit: true, littleEndian: true });
  writer.bytes(metaBytes);
  writer.bytes(dataSet);
  return writer.result();
}

/** An 8-bit grey PNG of a label plane (values as they are). */
export async function maskPng(labels: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  const png = await sharp(labels, { raw: { width, height, channels: 1 } }).png().toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

const luma = (r: number, g: number, b: number) => 0.299 * r + 0.587 * g + 0.114 * b;

/**
 * The tests' oracle: the grey values the documented rules give for one frame (0-based), computed from the samples
 * the writer stored, independently of the reader: window or Bits Stored range (MONOCHROME1 inverted), Y of YBR,
 * Rec. 601 luma of RGB and of palette colours.
 */
export function expectedGrey(written: WrittenDicom, spec: FixtureSpec, frame: number): Float64Array {
  const samples = written.samples[frame];
  const pixels = written.rows * written.columns;
  const full = 2 ** written.bitsStored - 1;
  const out = new Float64Array(pixels);
  for (let i = 0; i < pixels; i++) {
    if (written.model === 'mono') {
      const v = samples[i];
      let g: number;
      if (spec.window) {
        const { center: c, width: w } = spec.window;
        g = v <= c - 0.5 - (w - 1) / 2 ? 0 : v > c - 0.5 + (w - 1) / 2 ? 1 : (v - (c - 0.5)) / (w - 1) + 0.5;
      } else {
        g = (v - (spec.signed ? -(2 ** (written.bitsStored - 1)) : 0)) / full;
      }
      out[i] = spec.photometric === 'MONOCHROME1' ? 1 - g : g;
    } else if (written.model === 'ybr') {
      out[i] = samples[i * 3] / full;
    } else if (written.model === 'rgb') {
      out[i] = luma(samples[i * 3] / full, samples[i * 3 + 1] / full, samples[i * 3 + 2] / full);
    } else {
      const { red, green, blue } = written.palette!;
      out[i] = luma(red[samples[i]] / 65535, green[samples[i]] / 65535, blue[samples[i]] / 65535);
    }
  }
  return out;
}
