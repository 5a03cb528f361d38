/** The DICOMweb client's contract with a server, against a stand-in fetch: credentials, paging, refusals, envelopes. */
import { describe, expect, it } from 'vitest';
import { contentTypeParameter, parseMultipart } from '../../data/formats/multipart';
import { authorizationFromToken, DicomWebClient, DicomWebError } from '../../data/import/dicomwebClient';

interface Seen {
  url: string;
  headers: Record<string, string>;
}

function server(answer: (url: URL) => Response) {
  const seen: Seen[] = [];
  const stub: typeof fetch = (input, init) => {
    const url = new URL(String(input));
    seen.push({ url: String(input), headers: { ...(init?.headers as Record<string, string>) } });
    return Promise.resolve(answer(url));
  };
  return { seen, fetch: stub };
}

const study = (uid: string) => ({ '0020000D': { vr: 'UI', Value: [uid] } });

describe('DicomWebClient', () => {
  it('sends the token file\'s credentials and pages through long QIDO-RS answers', async () => {
    const all = Array.from({ length: 503 }, (_, i) => study(`1.2.${i}`));
    const { seen, fetch } = server((url) => {
      const offset = Number(url.searchParams.get('offset'));
      const limit = Number(url.searchParams.get('limit'));
      return Response.json(all.slice(offset, offset + limit));
    });
    const client = new DicomWebClient({ url: 'http://pacs.test/dicom-web/', authorization: authorizationFromToken('secret-token\n'), fetch });
    const found = await client.searchStudies(new URLSearchParams('ModalitiesInStudy=US'));
    expect(found).toHaveLength(503);
    expect(found[502]).toBe('1.2.502');
    expect(seen).toHaveLength(2);
    expect(seen[0].url).toMatch(/^http:\/\/pacs\.test\/dicom-web\/studies\?ModalitiesInStudy=US&limit=\d+&offset=0$/);
    expect(seen.every((s) => s.headers.Authorization === 'Bearer secret-token' && s.headers.Accept === 'application/dicom+json')).toBe(true);
    expect(authorizationFromToken('Basic dXNlcjpwdw==')).toBe('Basic dXNlcjpwdw==');
    expect(() => authorizationFromToken('  \n')).toThrow('the token file is empty');
  });

  it('treats 204 as no match, says what to do on 401/403, and refuses a server that is not DICOMweb', async () => {
    expect(await new DicomWebClient({ url: 'http://pacs.test/dw', fetch: server(() => new Response(null, { status: 204 })).fetch }).searchStudies(new URLSearchParams())).toEqual([]);
    const denied = new DicomWebClient({ url: 'http://pacs.test/dw', fetch: server(() => new Response('no', { status: 401 })).fetch });
    await expect(denied.searchStudies(new URLSearchParams())).rejects.toThrow('searching studies: the DICOMweb server refused access (HTTP 401); give a valid token with --token-file');
    for (const answer of [() => Response.json({ error: 'x' }), () => new Response('<html>login</html>', { headers: { 'Content-Type': 'text/html' } })]) {
      const notDicomWeb = new DicomWebClient({ url: 'http://pacs.test/dw', fetch: server(answer).fetch });
      const error = await notDicomWeb.searchStudies(new URLSearchParams()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DicomWebError);
      expect(String(error)).toContain('is --url the DICOMweb root');
    }
    expect(() => new DicomWebClient({ url: 'ftp://pacs.test/dw' })).toThrow('--url must be http or https');
  });

  it('retrieves an instance from a multipart answer or a bare application/dicom one, and refuses several', async () => {
    const dicom = new Uint8Array([1, 2, 3, 13, 10, 45, 45, 4]);
    const part = (boundary: string, count: number) => Buffer.concat([
      ...Array.from({ length: count }, () => Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), Buffer.from(dicom), Buffer.from('\r\n')])),
      Buffer.from(`--${boundary}--`),
    ]);
    const ref = { study: '1.2', series: '1.2.3', instance: '1.2.3.4' };
    const multipart = server(() => new Response(part('BND', 1), { headers: { 'Content-Type': 'multipart/related; type="application/dicom"; boundary=BND' } }));
    const got = await new DicomWebClient({ url: 'http://pacs.test/dw', fetch: multipart.fetch }).retrieveInstance(ref, 'retrieving instance 1 of 1');
    expect([...got]).toEqual([...dicom]);
    expect(multipart.seen[0].url).toBe('http://pacs.test/dw/studies/1.2/series/1.2.3/instances/1.2.3.4');
    expect(multipart.seen[0].headers.Accept).toContain('transfer-syntax=*');
    const bare = server(() => new Response(dicom, { headers: { 'Content-Type': 'application/dicom' } }));
    expect([...(await new DicomWebClient({ url: 'http://pacs.test/dw', fetch: bare.fetch }).retrieveInstance(ref, 'x'))]).toEqual([...dicom]);
    const two = server(() => new Response(part('B', 2), { headers: { 'Content-Type': 'multipart/related; boundary=B' } }));
    await expect(new DicomWebClient({ url: 'http://pacs.test/dw', fetch: two.fetch }).retrieveInstance(ref, 'retrieving instance 3 of 9'))
      .rejects.toThrow('retrieving instance 3 of 9: expected one DICOM instance in the WADO-RS answer, got 2');
  });

  it('stores instances with one STOW-RS multipart request and tells stored from failed instances (200, 202, 409) and a server error', async () => {
    const instances = [new Uint8Array([1, 13, 10, 45, 45, 2]), new Uint8Array([3, 4])];
    const sop = (uid: string, reason?: number) => ({ '00081155': { vr: 'UI', Value: [uid] }, ...(reason ? { '00081197': { vr: 'US', Value: [reason] } } : {}) });
    let posted: { url: string; method?: string; contentType: string; body: Uint8Array; authorization?: string } | undefined;
    const stow = (status: number, answer: unknown): typeof fetch => (input, init) => {
      const headers = init?.headers as Record<string, string>;
      posted = { url: String(input), method: init?.method, contentType: headers['Content-Type'], body: init?.body as Uint8Array, authorization: headers.Authorization };
      return Promise.resolve(new Response(typeof answer === 'string' ? answer : JSON.stringify(answer), { status, headers: { 'Content-Type': 'application/dicom+json' } }));
    };
    const client = (stub: typeof fetch) => new DicomWebClient({ url: 'http://pacs.test/dw', authorization: 'Bearer t', fetch: stub });

    expect(await client(stow(200, { '00081199': { vr: 'SQ', Value: [sop('1.1'), sop('1.2')] } })).storeInstances(instances, 'storing')).toEqual({ stored: ['1.1', '1.2'], failed: [] });
    expect(posted).toMatchObject({ url: 'http://pacs.test/dw/studies', method: 'POST', authorization: 'Bearer t' });
    expect(posted!.contentType).toMatch(/^multipart\/related; type="application\/dicom"; boundary=/);
    const parts = parseMultipart(posted!.body, posted!.contentType);
    expect(parts.map((p) => [p.headers.get('content-type'), [...p.body]])).toEqual([['application/dicom', [...instances[0]]], ['application/dicom', [...instances[1]]]]);
    expect(contentTypeParameter(posted!.contentType, 'type')).toBe('application/dicom');

    const partial = { '00081199': { vr: 'SQ', Value: [sop('1.1')] }, '00081198': { vr: 'SQ', Value: [sop('1.2', 0xa700)] } };
    expect(await client(stow(202, partial)).storeInstances(instances, 'storing')).toEqual({ stored: ['1.1'], failed: [{ instance: '1.2', reason: 0xa700 }] });
    expect(await client(stow(409, { '00081198': { vr: 'SQ', Value: [sop('1.1', 0xc000), sop('1.2', 0xc000)] } })).storeInstances(instances, 'storing'))
      .toEqual({ stored: [], failed: [{ instance: '1.1', reason: 0xc000 }, { instance: '1.2', reason: 0xc000 }] });
    await expect(client(stow(409, {})).storeInstances(instances, 'storing')).rejects.toThrow('storing: HTTP 409 from the DICOMweb server: nothing was stored');
    await expect(client(stow(500, 'disk full')).storeInstances(instances, 'storing')).rejects.toThrow('storing: HTTP 500 from the DICOMweb server (disk full)');
    await expect(client(stow(200, '<html></html>')).storeInstances(instances, 'storing')).rejects.toThrow('an answer that is not DICOM JSON');
  });
});
