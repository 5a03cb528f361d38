/** The DICOMweb client's contract with a server, against a stand-in fetch: credentials, paging, refusals, envelopes. */
import { describe, expect, it } from 'vitest';
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
});
