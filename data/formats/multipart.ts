/**
 * Reads and writes `multipart/related` bodies (RFC 2387 over RFC 2046's multipart syntax), the envelope DICOMweb's
 * WADO-RS puts instances in and STOW-RS takes them in. Written here because the maintained client, `dicomweb-client`, needs the browser's XMLHttpRequest
 * (it fails in Node 20 with "XMLHttpRequest is not defined"); these are the pieces of it the import and STOW need.
 *
 * Whole bodies only (an instance is read into memory anyway to be decoded); a body that ends before its closing
 * delimiter is refused as truncated rather than returning a cut part.
 */
import { randomUUID } from 'node:crypto';

export class MultipartError extends Error {}

export interface MultipartPart {
  /** Header names lower-cased. */
  headers: Map<string, string>;
  body: Uint8Array;
}

const CRLF = Buffer.from('\r\n');
const HEADERS_END = Buffer.from('\r\n\r\n');

/** A parameter of a Content-Type value (`boundary`, `type`), unquoted; case-insensitive name. */
export function contentTypeParameter(contentType: string, name: string): string | undefined {
  for (const piece of contentType.split(';').slice(1)) {
    const eq = piece.indexOf('=');
    if (eq < 0 || piece.slice(0, eq).trim().toLowerCase() !== name.toLowerCase()) continue;
    const value = piece.slice(eq + 1).trim();
    return value.startsWith('"') && value.endsWith('"') && value.length >= 2 ? value.slice(1, -1) : value;
  }
  return undefined;
}

/** The media type of a Content-Type value, lower-cased, without parameters. */
export function mediaType(contentType: string): string {
  return contentType.split(';')[0].trim().toLowerCase();
}

function parseHeaders(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartError(`a part header line has no name: '${line.slice(0, 60)}'`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** The parts of a multipart body whose Content-Type is `contentType` (it must be multipart with a boundary). */
export function parseMultipart(body: Uint8Array, contentType: string): MultipartPart[] {
  if (!mediaType(contentType).startsWith('multipart/')) throw new MultipartError(`expected a multipart body, got Content-Type '${contentType}'`);
  const boundary = contentTypeParameter(contentType, 'boundary');
  if (!boundary) throw new MultipartError(`the Content-Type '${contentType}' names no boundary`);
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const delimiter = Buffer.from(`--${boundary}`);
  const nextDelimiter = Buffer.concat([CRLF, delimiter]);
  // The first delimiter may open the body or follow a preamble (then it starts a line).
  let at = bytes.subarray(0, delimiter.length).equals(delimiter) ? 0 : bytes.indexOf(nextDelimiter);
  if (at < 0) throw new MultipartError('the body holds no part (its boundary never occurs)');
  if (at > 0) at += CRLF.length;
  const parts: MultipartPart[] = [];
  for (;;) {
    const afterDelimiter = at + delimiter.length;
    if (bytes[afterDelimiter] === 0x2d && bytes[afterDelimiter + 1] === 0x2d) return parts;
    const lineEnd = bytes.indexOf(CRLF, afterDelimiter);
    if (lineEnd < 0) throw new MultipartError(`the body is truncated after part ${parts.length}`);
    // A part without headers has an empty line right after its delimiter line.
    const headersEnd = bytes.subarray(lineEnd, lineEnd + HEADERS_END.length).equals(HEADERS_END) ? lineEnd : bytes.indexOf(HEADERS_END, lineEnd + CRLF.length);
    if (headersEnd < 0) throw new MultipartError(`the body is truncated in the headers of part ${parts.length + 1}`);
    const headers = headersEnd === lineEnd ? new Map<string, string>() : parseHeaders(bytes.toString('latin1', lineEnd + CRLF.length, headersEnd));
    const start = headersEnd + HEADERS_END.length;
    const end = bytes.indexOf(nextDelimiter, start);
    if (end < 0) throw new MultipartError(`the body is truncated in part ${parts.length + 1} (no closing boundary)`);
    parts.push({ headers, body: new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start) });
    at = end + CRLF.length;
  }
}

/** A `multipart/related` body of `parts` of one media type, and its Content-Type (`boundary` random unless given). */
export function buildMultipart(parts: readonly Uint8Array[], type: string, boundary = `echo-al-${randomUUID()}`): { body: Uint8Array; contentType: string } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: ${type}\r\n\r\n`, 'latin1'), Buffer.from(part.buffer, part.byteOffset, part.byteLength), CRLF);
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`, 'latin1'));
  return { body: new Uint8Array(Buffer.concat(chunks)), contentType: `multipart/related; type="${type}"; boundary=${boundary}` };
}
