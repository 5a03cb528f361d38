/** The safetensors reader: round trip, every float dtype, and crafted bad files refused with a reason. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeFloat, encodeSafetensors, SafetensorsError, SafetensorsFile } from '../../../ml/weights/safetensors';

/** A file with a hand-written header and data section. */
function craft(header: unknown, dataBytes: number, headerOverride?: bigint): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, headerOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

const read = (bytes: Uint8Array) => SafetensorsFile.fromBytes(bytes, 'bad.safetensors');

describe('safetensors reader', () => {
  it('round-trips float32 tensors and metadata, from bytes and from a file', () => {
    const a = { name: 'a.weight', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, -6.5]) };
    const b = { name: 'b', shape: [], data: Float32Array.from([7]) };
    const bytes = encodeSafetensors([a, b], { format: 'pt' });
    const file = read(bytes);
    expect(file.names().sort()).toEqual(['a.weight', 'b']);
    expect(file.float('a.weight')).toEqual({ shape: [2, 3], data: a.data });
    expect(file.float('b').data[0]).toBe(7);
    expect(file.header.metadata).toEqual({ format: 'pt' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
    fs.writeFileSync(path.join(dir, 'w.safetensors'), bytes);
    expect(SafetensorsFile.read(path.join(dir, 'w.safetensors')).float('a.weight').data).toEqual(a.data);
    fs.rmSync(dir, { recursive: true });
  });

  it('decodes F16, BF16 and F64 to float32', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001]).buffer);
    const d16 = decodeFloat(f16, 'F16', 4);
    expect(d16[0]).toBe(1);
    expect(d16[1]).toBe(-2);
    expect(d16[2]).toBeCloseTo(1 / 3, 3);
    expect(d16[3]).toBeCloseTo(2 ** -24, 30);
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer);
    expect(Array.from(decodeFloat(bf16, 'BF16', 2))).toEqual([1, -3]);
    const f64 = new Uint8Array(new Float64Array([0.25, -1e10]).buffer);
    expect(Array.from(decodeFloat(f64, 'F64', 2))).toEqual([0.25, Math.fround(-1e10)]);
    const file = read(Object.assign(craft({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, 4)));
    expect(file.float('h').shape).toEqual([2]);
  });

  it('lists integer tensors (num_batches_tracked) but refuses to decode them as floats', () => {
    const file = read(craft({ n: { dtype: 'I64', shape: [], data_offsets: [0, 8] } }, 8));
    expect(file.tensors.get('n')?.dtype).toBe('I64');
    expect(() => file.float('n')).toThrow(/not a float tensor/);
    expect(() => file.float('missing')).toThrow(/no tensor 'missing'/);
  });

  it('refuses a truncated file', () => {
    const bytes = encodeSafetensors([{ name: 'w', shape: [4], data: new Float32Array(4) }]);
    expect(() => read(bytes.subarray(0, 5))).toThrow(/too short/);
    expect(() => read(bytes.subarray(0, 20))).toThrow(/truncated/);
    expect(() => read(bytes.subarray(0, bytes.length - 3))).toThrow(/tensor 'w' ends at byte 16 of a 13-byte data section/);
  });

  it('refuses a header that lies about its length or about sizes', () => {
    expect(() => read(craft({}, 0, 10n ** 12n))).toThrow(/over the .*-byte limit/);
    expect(() => read(craft({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 16, 5n))).toThrow(/not valid UTF-8 JSON/);
    expect(() => read(craft({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8))).toThrow(/ends at byte 16 of a 8-byte data section/);
    expect(() => read(craft({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 24))).toThrow(/8 bytes after the last tensor/);
    expect(() => read(craft({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    }, 12))).toThrow(/'b' \[4, 12\) overlaps/);
    expect(() => read(craft({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, 16))).toThrow(/belong to no tensor/);
  });

  it('refuses shapes that disagree with the byte range, and malformed entries', () => {
    expect(() => read(craft({ w: { dtype: 'F32', shape: [3, 3], data_offsets: [0, 16] } }, 16))).toThrow(/F32\[3, 3\] needs 36 bytes but data_offsets \[0, 16\) hold 16/);
    expect(() => read(craft({ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, 1))).toThrow(/unknown dtype "Q4"/);
    expect(() => read(craft({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4))).toThrow(/not a list of non-negative integers/);
    expect(() => read(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 4))).toThrow(/data_offsets/);
    expect(() => read(craft([1, 2], 0))).toThrow(/not a JSON object/);
  });

  it('refuses a huge declared tensor before allocating anything', () => {
    const huge = craft({ w: { dtype: 'F32', shape: [1024, 1024, 1024], data_offsets: [0, 4 * 1024 ** 3] } }, 0);
    expect(() => read(huge)).toThrow(/needs more than 2147483647 bytes, over the limit; refused before allocating/);
    const overflow = craft({ w: { dtype: 'F64', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, 8);
    expect(() => read(overflow)).toThrow(/over the limit/);
    // From a file, too: the data section is never read.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
    fs.writeFileSync(path.join(dir, 'huge.safetensors'), huge);
    expect(() => SafetensorsFile.read(path.join(dir, 'huge.safetensors'))).toThrow(SafetensorsError);
    expect(() => SafetensorsFile.read(path.join(dir, 'absent.safetensors'))).toThrow(/cannot read/);
    fs.rmSync(dir, { recursive: true });
  });
});
