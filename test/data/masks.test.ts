import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  decodeMaskImage, encodeCanonicalMask, MAX_MASK_PIXELS, maskContentHash, normaliseMask, normaliseMaskBytes,
  type MaskOptions, type MaskResult,
} from '../../data/masks';

// Non-square shapes everywhere: a swapped width/height or a transposed read moves the foreground pixels.
const W = 12;
const H = 10;
const N = W * H;

const indices = (predicate: (x: number, y: number, i: number) => boolean) =>
  Array.from({ length: N }, (_, i) => i).filter((i) => predicate(i % W, Math.floor(i / W), i));

/** 55 scattered pixels: i ↦ 7i mod 120 is a permutation, so exactly 55 of them land below 55. */
const scattered = indices((_x, _y, i) => (i * 7) % N < 55);
/** A 4×5 block away from the borders. */
const block = indices((x, y) => x >= 3 && x <= 6 && y >= 2 && y <= 6);
/** The ring of pixels touching the block (anti-aliased edges). */
const ring = indices((x, y) => x >= 2 && x <= 7 && y >= 1 && y <= 7).filter((i) => !block.includes(i));

function ones(result: MaskResult): number[] {
  if (!result.ok) throw new Error(`expected a mask, got a rejection: ${result.reason}`);
  return Array.from(result.mask.keys()).filter((i) => result.mask[i] === 1);
}

function reasonOf(result: MaskResult): string {
  if (result.ok) throw new Error(`expected a rejection, got a mask (${result.rule})`);
  return result.reason;
}

/** Encodes interleaved samples as a PNG of the given channels, 8- or 16-bit. */
async function png(data: Uint8Array | Uint16Array, channels: 1 | 2 | 3 | 4, width = W, height = H): Promise<Buffer> {
  const sixteen = data instanceof Uint16Array;
  const space = channels <= 2 ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb';
  const bytes = await sharp(data, { raw: { width, height, channels } }).toColourspace(space).png().toBuffer();
  const meta = await sharp(bytes).metadata();
  // The fixture must really be what the test says (sharp writes 1-channel raw input as RGB unless told otherwise).
  expect([meta.channels, meta.depth]).toEqual([channels, sixteen ? 'ushort' : 'uchar']);
  return bytes;
}

function greyWith(fg: number[], value: number, TypedArray: Uint8ArrayConstructor | Uint16ArrayConstructor = Uint8Array) {
  const data = new TypedArray(N);
  for (const i of fg) data[i] = value;
  return data;
}

function rgb(colourOf: (i: number) => [number, number, number], alphaOf?: (i: number) => number): Uint8Array {
  const channels = alphaOf ? 4 : 3;
  const data = new Uint8Array(N * channels);
  for (let i = 0; i < N; i++) {
    data.set(colourOf(i), i * channels);
    if (alphaOf) data[i * channels + 3] = alphaOf(i);
  }
  return data;
}

const C: [number, number, number] = [51, 221, 255];
const scale = (t: number): [number, number, number] => [Math.round(C[0] * t), Math.round(C[1] * t), Math.round(C[2] * t)];

async function normalised(bytes: Uint8Array, options: MaskOptions = {}) {
  return normaliseMaskBytes(bytes, { size: [H, W], ...options });
}

describe('accepted masks: the exact foreground pixels', () => {
  it('reads an 8-bit 0/1 mask', async () => {
    const result = await normalised(await png(greyWith(scattered, 1), 1));
    expect(ones(result)).toEqual(scattered);
    expect(result.ok && [result.foreground, result.size, result.rule]).toEqual([55, [H, W], '0/1 mask: 1 is foreground']);
  });

  it('reads an 8-bit 0/255 mask', async () => {
    expect(ones(await normalised(await png(greyWith(scattered, 255), 1)))).toEqual(scattered);
  });

  it('reads a 16-bit 0/65535 mask', async () => {
    expect(ones(await normalised(await png(greyWith(scattered, 65535, Uint16Array), 1)))).toEqual(scattered);
  });

  it('keeps a 16-bit 0/1 mask 16-bit: 55 pixels stay 55, in place (sharp\'s default raw read loses them all)', async () => {
    const bytes = await png(greyWith(scattered, 1, Uint16Array), 1);
    const decoded = await decodeMaskImage(bytes);
    expect(decoded.ok && [decoded.bitDepth, decoded.sampleMax, decoded.channels, decoded.data instanceof Uint16Array]).toEqual([16, 65535, 1, true]);
    const result = await normalised(bytes);
    expect(result.ok && result.foreground).toBe(55);
    expect(ones(result)).toEqual(scattered);
    // What this guards against: sharp's default raw output is 8-bit sRGB, where 1/65535 rounds to 0.
    const squashed = await sharp(bytes).raw().toBuffer();
    expect(squashed.some((v) => v !== 0)).toBe(false);
  });

  it('reads a 16-bit 0/1 TIFF', async () => {
    const tiff = await sharp(greyWith(scattered, 1, Uint16Array), { raw: { width: W, height: H, channels: 1 } }).toColourspace('grey16').tiff({ compression: 'lzw' }).toBuffer();
    expect(ones(await normalised(tiff))).toEqual(scattered);
  });

  it('reads a 2-bit grey PNG label map by its stored values (libpng stretches them to 0–255)', async () => {
    const labels = new Uint8Array(N);
    for (const i of block) labels[i] = 2;
    for (const i of indices((x, y) => x >= 9 && y >= 6)) labels[i] = 3;
    for (const i of indices((x, y) => x <= 1 && y <= 3)) labels[i] = 1;
    const bytes = twoBitGreyPng(labels);
    expect(ones(await normalised(bytes, { label: 2 }))).toEqual(block);
    expect(reasonOf(await normalised(bytes))).toMatch(/several labels \(0, 1, 2, 3\)/);
  });

  it('reads a mask with an anti-aliased grey edge by value ≥ half the maximum', async () => {
    const data = greyWith(block, 255);
    const edge = [30, 127, 128, 200, 90, 180, 10, 250, 140, 60];
    ring.forEach((i, n) => { data[i] = edge[n % edge.length]; });
    const result = await normalised(await png(data, 1));
    expect(ones(result)).toEqual([...block, ...ring.filter((i) => data[i] >= 128)].sort((a, b) => a - b));
    expect(result.ok && result.rule).toMatch(/anti-aliased/);
  });

  it('reads grey+alpha where alpha carries the stroke: alpha ≥ 128', async () => {
    const data = new Uint8Array(N * 2);
    const alphas = [255, 200, 128, 127, 60];
    const stroke = [...block, ...ring];
    stroke.forEach((i, n) => {
      data[2 * i] = 255;
      data[2 * i + 1] = block.includes(i) ? 255 : alphas[n % alphas.length];
    });
    const result = await normalised(await png(data, 2));
    expect(ones(result)).toEqual(stroke.filter((i) => data[2 * i + 1] >= 128).sort((a, b) => a - b));
    expect(result.ok && result.rule).toMatch(/alpha/);
  });

  it('reads 16-bit grey+alpha by the 16-bit half (≥ 32768)', async () => {
    const data = new Uint16Array(N * 2);
    for (const i of block) data[2 * i + 1] = 65535;
    const [half, below] = ring;
    data[2 * half + 1] = 32768;
    data[2 * below + 1] = 32767;
    expect(ones(await normalised(await png(data, 2)))).toEqual([...block, half].sort((a, b) => a - b));
  });

  it('reads grey+alpha that is fully opaque by its grey values', async () => {
    const data = new Uint8Array(N * 2).fill(255);
    for (let i = 0; i < N; i++) data[2 * i] = scattered.includes(i) ? 255 : 0;
    expect(ones(await normalised(await png(data, 2)))).toEqual(scattered);
  });

  it('reads a colour mask (51,221,255) on black', async () => {
    const result = await normalised(await png(rgb((i) => (scattered.includes(i) ? C : [0, 0, 0])), 3));
    expect(ones(result)).toEqual(scattered);
    expect(result.ok && result.rule).toBe('colour mask (51,221,255) on black: that colour is foreground');
  });

  it('reads a colour mask with anti-aliased edges: at least half that colour', async () => {
    const strengths = [0.1, 0.3, 0.49, 0.5, 0.51, 0.7, 0.9];
    const t = new Map(ring.map((i, n) => [i, strengths[n % strengths.length]]));
    const result = await normalised(await png(rgb((i) => (block.includes(i) ? C : t.has(i) ? scale(t.get(i)!) : [0, 0, 0])), 3));
    expect(ones(result)).toEqual([...block, ...ring.filter((i) => t.get(i)! >= 0.5)].sort((a, b) => a - b));
    expect(result.ok && result.rule).toMatch(/anti-aliased/);
  });

  it('reads a palette PNG by its colours', async () => {
    const bytes = await sharp(rgb((i) => (scattered.includes(i) ? C : [0, 0, 0])), { raw: { width: W, height: H, channels: 3 } }).png({ palette: true, colours: 2, dither: 0 }).toBuffer();
    expect((await sharp(bytes).metadata()).isPalette).toBe(true);
    expect(ones(await normalised(bytes))).toEqual(scattered);
  });

  it('reads an RGBA brush stroke with anti-aliased alpha', async () => {
    const alphas = [250, 180, 128, 127, 90, 20];
    const alpha = new Map(ring.map((i, n) => [i, alphas[n % alphas.length]]));
    const data = rgb((i) => (block.includes(i) || alpha.has(i) ? C : [0, 0, 0]), (i) => (block.includes(i) ? 255 : alpha.get(i) ?? 0));
    const result = await normalised(await png(data, 4));
    expect(ones(result)).toEqual([...block, ...ring.filter((i) => alpha.get(i)! >= 128)].sort((a, b) => a - b));
  });

  it('reads a label map with label 1 and with label 3; rejects it without a label', async () => {
    const labels = new Uint8Array(N);
    const one = indices((x, y) => x <= 3 && y <= 3);
    const two = indices((x, y) => x >= 5 && x <= 8 && y <= 4);
    const three = indices((x, y) => x >= 4 && y >= 6);
    for (const i of one) labels[i] = 1;
    for (const i of two) labels[i] = 2;
    for (const i of three) labels[i] = 3;
    const bytes = await png(labels, 1);
    expect(ones(await normalised(bytes, { label: 1 }))).toEqual(one);
    expect(ones(await normalised(bytes, { label: 3 }))).toEqual(three);
    expect(reasonOf(await normalised(bytes))).toBe('mask has several labels (0, 1, 2, 3): export the structure alone as a 0/255 mask, or choose it with the label option (e.g. label 1 for the LV cavity in CAMUS)');
  });

  it('reads raw label arrays (MetaImage / NIfTI voxels) by the same rules', () => {
    const data = new Float32Array(N);
    for (const i of block) data[i] = 1;
    for (const i of ring) data[i] = 2;
    expect(ones(normaliseMask({ width: W, height: H, channels: 1, data }, { label: 1 }))).toEqual(block);
    expect(ones(normaliseMask({ width: W, height: H, channels: 1, data }, { label: 2 }))).toEqual(ring);
    const binary = Float32Array.from(data, (v) => (v === 1 ? 1 : 0));
    expect(ones(normaliseMask({ width: W, height: H, channels: 1, data: binary }))).toEqual(block);
  });

  it('accepts an empty mask only with allowEmpty', async () => {
    const bytes = await png(new Uint8Array(N), 1);
    expect(reasonOf(await normalised(bytes))).toBe('mask is empty: every pixel is 0 (nothing drawn)');
    const allowed = await normalised(bytes, { allowEmpty: true });
    expect(allowed.ok && [allowed.foreground, allowed.mask.length]).toEqual([0, N]);
  });

  it('thresholds a crisp grey JPEG at half range', async () => {
    const size = 32;
    const disc = new Uint8Array(size * size);
    for (let i = 0; i < disc.length; i++) disc[i] = (i % size - 15.5) ** 2 + (Math.floor(i / size) - 15.5) ** 2 <= 81 ? 255 : 0;
    const jpeg = await sharp(disc, { raw: { width: size, height: size, channels: 1 } }).toColourspace('b-w').jpeg({ quality: 90 }).toBuffer();
    const decoded = await decodeMaskImage(jpeg);
    // The JPEG really is lossy here: the rule has something to do.
    expect(decoded.ok && Array.from(decoded.data).some((v, i) => v !== disc[i])).toBe(true);
    const result = await normaliseMaskBytes(jpeg, { size: [size, size] });
    expect(ones(result)).toEqual(Array.from(disc.keys()).filter((i) => disc[i] === 255));
    expect(result.ok && result.rule).toMatch(/^JPEG grey mask thresholded at half range/);
  });
});

describe('rejected masks: one actionable line each', () => {
  it('rejects a label that is not in the mask, naming the values present (empty with allowEmpty)', async () => {
    const bytes = await png(greyWith(block, 1), 1);
    expect(reasonOf(await normalised(bytes, { label: 3 }))).toBe('mask is empty: no pixel has label 3 (values present: 0, 1); check the label value');
    const allowed = await normalised(bytes, { label: 3, allowEmpty: true });
    expect(allowed.ok && allowed.foreground).toBe(0);
  });

  it('rejects two foreground colours, naming them', async () => {
    const data = rgb((i) => (block.includes(i) ? C : ring.includes(i) ? [255, 0, 0] : [0, 0, 0]));
    const reason = reasonOf(await normalised(await png(data, 3)));
    expect(reason).toMatch(/^mask has several colours \(\(255,0,0\) 22 px, \(51,221,255\) 20 px\), not one colour on black/);
    expect(reason).toMatch(/label option/);
  });

  it('rejects a colour mask without a black background', async () => {
    const data = rgb((i) => (block.includes(i) ? C : [255, 255, 0]));
    expect(reasonOf(await normalised(await png(data, 3)))).toMatch(/^colour mask has no black background \(colours: \(255,255,0\) 100 px, \(51,221,255\) 20 px\)/);
  });

  it('rejects a mask whose visible pixels are both black and coloured beside transparency', async () => {
    const data = rgb((i) => (block.includes(i) ? [255, 255, 255] : [0, 0, 0]), (i) => (i % W === 0 ? 0 : 255));
    expect(reasonOf(await normalised(await png(data, 4)))).toMatch(/both transparency and black\/coloured areas .*\(90 black, 20 coloured\)/);
  });

  it('rejects two values without a 0 background, and one non-zero value everywhere', async () => {
    const twoValues = greyWith(block, 200);
    for (let i = 0; i < N; i++) if (!block.includes(i)) twoValues[i] = 100;
    expect(reasonOf(await normalised(await png(twoValues, 1)))).toMatch(/^mask has no 0 background \(values 100, 200\)/);
    expect(reasonOf(await normalised(await png(new Uint8Array(N).fill(255), 1)))).toMatch(/^every pixel of the mask is 255: there is no 0 background/);
  });

  it('rejects the wrong size', async () => {
    const bytes = await png(greyWith(block, 255), 1);
    expect(reasonOf(await normaliseMaskBytes(bytes, { size: [H, W + 2] }))).toBe(`mask is ${W}×${H}; the image is ${W + 2}×${H}`);
  });

  it('rejects a truncated PNG: cut in its data, and cut only in its end marker', async () => {
    const bytes = await png(greyWith(scattered, 255), 1);
    expect(reasonOf(await normalised(bytes.subarray(0, bytes.length - 30)))).toMatch(/^cannot read mask: the PNG file is truncated \(it ends inside its IDAT chunk\)/);
    // libpng itself reads this one without complaint: every pixel is there, only IEND is missing.
    expect(reasonOf(await normalised(bytes.subarray(0, bytes.length - 6)))).toMatch(/^cannot read mask: the PNG file is truncated/);
  });

  it('rejects a PNG whose data is damaged (sharp failOn)', async () => {
    const bytes = Buffer.from(await png(greyWith(scattered, 255), 1));
    const idat = bytes.indexOf('IDAT');
    bytes[idat + 6] ^= 0xff;
    expect(reasonOf(await normalised(bytes))).toMatch(/^cannot read mask: the PNG file is damaged or truncated \(/);
  });

  it('rejects a truncated JPEG', async () => {
    const jpeg = await sharp(greyWith(block, 255), { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').jpeg().toBuffer();
    expect(reasonOf(await normalised(jpeg.subarray(0, jpeg.length - 20)))).toMatch(/^cannot read mask: the JPEG file is damaged or truncated/);
  });

  it('rejects soft, 0/1 and colour JPEG masks', async () => {
    const soft = await sharp(greyWith(block, 255), { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').blur(1.5).jpeg({ quality: 90 }).toBuffer();
    expect(reasonOf(await normalised(soft))).toMatch(/^JPEG mask is not crisp: \d+\.\d % of its pixels are mid-grey \(64–191\)/);
    const zeroOne = await sharp(greyWith(block, 1), { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').jpeg({ quality: 100 }).toBuffer();
    expect(reasonOf(await normalised(zeroOne))).toMatch(/^JPEG mask has only dark values \(brightest 1 of 255\)/);
    const colour = await sharp(rgb((i) => (block.includes(i) ? C : [0, 0, 0])), { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
    expect(reasonOf(await normalised(colour))).toMatch(/^colour JPEG masks cannot be read reliably/);
    expect(reasonOf(await normalised(zeroOne, { label: 1 }))).toMatch(/cannot be read from a JPEG/);
  });

  it('rejects a valid mask over the pixel limit by naming its size and the limit, not as damaged', async () => {
    // A complete, valid 1-bit 20000 × 20000 PNG (a square of structure in the middle): 50 MB of scanlines, 50 kB of file.
    const side = 20_000;
    const rowBytes = side / 8;
    const scanlines = Buffer.alloc((rowBytes + 1) * side);
    for (let y = 9000; y < 11_000; y++) scanlines.fill(0xff, y * (rowBytes + 1) + 1 + 1125, y * (rowBytes + 1) + 1 + 1375);
    const reason = reasonOf(await normalised(greyPngOf(side, side, 1, scanlines)));
    expect(reason).toBe(`mask is 20000×20000 = 400 M pixels; the limit is 268.4 M pixels (${MAX_MASK_PIXELS.toLocaleString('en-US')})`);
    expect(reason).not.toMatch(/truncated|damaged/);
  });

  it('rejects a file that is not an image, an empty file and other image formats', async () => {
    expect(reasonOf(await normalised(new TextEncoder().encode('id,mask\nvideo001,0\n')))).toBe('cannot read mask: the file is not a PNG, TIFF or JPEG image');
    expect(reasonOf(await normalised(new Uint8Array(0)))).toBe('cannot read mask: the file is empty (0 bytes)');
    const gif = await sharp(greyWith(block, 255), { raw: { width: W, height: H, channels: 1 } }).gif().toBuffer();
    expect(reasonOf(await normalised(gif))).toBe('cannot read mask: it is a GIF image; save masks as PNG (or TIFF)');
  });
});

describe('canonical form', () => {
  it('encodes an 8-bit one-channel 0/255 PNG that reads back to the same mask and hash', async () => {
    const mask = new Uint8Array(N);
    for (const i of scattered) mask[i] = 1;
    const bytes = await encodeCanonicalMask(mask, [H, W]);
    const meta = await sharp(bytes).metadata();
    expect([meta.format, meta.channels, meta.depth, meta.width, meta.height]).toEqual(['png', 1, 'uchar', W, H]);
    const raw = await sharp(bytes).toColourspace('b-w').raw().toBuffer();
    expect([...new Set(raw)].sort((a, b) => a - b)).toEqual([0, 255]);
    const back = await normalised(bytes);
    expect(ones(back)).toEqual(scattered);
    // The same structure from a 16-bit 0/1 file or a colour file hashes the same; another size or mask does not.
    const hash = maskContentHash(mask, [H, W]);
    const from16 = await normalised(await png(greyWith(scattered, 1, Uint16Array), 1));
    const fromColour = await normalised(await png(rgb((i) => (scattered.includes(i) ? C : [0, 0, 0])), 3));
    expect(from16.ok && maskContentHash(from16.mask, from16.size)).toBe(hash);
    expect(fromColour.ok && maskContentHash(fromColour.mask, fromColour.size)).toBe(hash);
    expect(maskContentHash(mask, [W, H])).not.toBe(hash);
    const other = new Uint8Array(mask);
    other[0] ^= 1;
    expect(maskContentHash(other, [H, W])).not.toBe(hash);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
  });
});

/** A grey PNG written by hand from its filtered scanlines (each row: filter byte 0, then the packed samples). */
function greyPngOf(width: number, height: number, bitDepth: number, scanlines: Buffer): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = bitDepth;
  header[9] = 0; // grey
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header), chunk('IDAT', deflateSync(scanlines)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A grey PNG with 2 bits per pixel, written by hand (sharp only writes sub-8-bit palettes). */
function twoBitGreyPng(values: Uint8Array): Buffer {
  const rowBytes = Math.ceil((W * 2) / 8);
  const scanlines = Buffer.alloc((rowBytes + 1) * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) scanlines[y * (rowBytes + 1) + 1 + (x >> 2)] |= values[y * W + x] << (6 - 2 * (x & 3));
  }
  return greyPngOf(W, H, 2, scanlines);
}
