/** The multipart/related reader WADO-RS responses go through: parts exact to the byte, truncation refused. */
import { describe, expect, it } from 'vitest';
import { contentTypeParameter, MultipartError, parseMultipart } from '../../data/formats/multipart';

const enc = (text: string) => Buffer.from(text, 'latin1');

/** A body as a server writes it, with binary parts that contain CR, LF and dashes. */
function body(boundary: string, parts: Array<{ headers: string[]; data: Uint8Array }>, preamble = ''): Uint8Array {
  const chunks: Buffer[] = [enc(preamble ? `${preamble}\r\n` : '')];
  for (const part of parts) {
    chunks.push(enc(`--${boundary}\r\n${part.headers.map((h) => `${h}\r\n`).join('')}\r\n`), Buffer.from(part.data), enc('\r\n'));
  }
  chunks.push(enc(`--${boundary}--\r\n`));
  return new Uint8Array(Buffer.concat(chunks));
}

function randomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    out[i] = state >>> 24;
  }
  // Bytes a naive reader trips on: line breaks and something like a delimiter without its boundary.
  out.set(enc('\r\n--\r\n\r\n'), Math.floor(length / 2));
  return out;
}

describe('parseMultipart', () => {
  it('returns every part with its headers and exact bytes, with or without a preamble and part headers', () => {
    const first = randomBytes(5000, 1);
    const second = randomBytes(17, 2);
    const boundary = 'b0undary-1234';
    const type = `multipart/related; type="application/dicom"; boundary="${boundary}"`;
    for (const preamble of ['', 'this is a preamble']) {
      const parts = parseMultipart(body(boundary, [{ headers: ['Content-Type: application/dicom', 'Content-Length: 5000'], data: first }, { headers: [], data: second }], preamble), type);
      expect(parts).toHaveLength(2);
      expect(parts[0].headers.get('content-type')).toBe('application/dicom');
      expect(Buffer.from(parts[0].body).equals(Buffer.from(first))).toBe(true);
      expect(parts[1].headers.size).toBe(0);
      expect(Buffer.from(parts[1].body).equals(Buffer.from(second))).toBe(true);
    }
    expect(parseMultipart(body(boundary, []), type)).toEqual([]);
  });

  it('refuses a truncated body, a missing boundary and a body that is not multipart', () => {
    const boundary = 'xyz';
    const whole = body(boundary, [{ headers: ['Content-Type: application/dicom'], data: randomBytes(300, 3) }]);
    const type = `multipart/related; boundary=${boundary}`;
    expect(parseMultipart(whole, type)).toHaveLength(1);
    for (const cut of [whole.length - 9, 200, 40, 12]) {
      expect(() => parseMultipart(whole.subarray(0, cut), type), `cut at ${cut}`).toThrow(/truncated/);
    }
    expect(() => parseMultipart(whole, 'multipart/related; type="application/dicom"')).toThrow('names no boundary');
    expect(() => parseMultipart(whole, 'application/dicom')).toThrow(MultipartError);
    expect(() => parseMultipart(whole, 'multipart/related; boundary=other')).toThrow('its boundary never occurs');
  });

  it('reads Content-Type parameters quoted or not, whatever their case', () => {
    expect(contentTypeParameter('multipart/related; Boundary="a b"; type=application/dicom', 'boundary')).toBe('a b');
    expect(contentTypeParameter('multipart/related; type=application/dicom', 'TYPE')).toBe('application/dicom');
    expect(contentTypeParameter('multipart/related', 'boundary')).toBeUndefined();
  });
});
