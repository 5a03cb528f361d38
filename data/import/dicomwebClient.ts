/**
 * The few DICOMweb calls the import and `predict --stow` make, over Node's fetch: QIDO-RS searches (studies, the
 * instances of a study), WADO-RS retrieval of one instance as stored (`transfer-syntax=*`: no transcoding by the
 * server, so the same bytes the folder importer would read), and STOW-RS storage of new instances (the SEG objects
 * predict writes). Paging uses `limit`/`offset`, which servers cap differently.
 *
 * Messages name no UID (study and instance UIDs are identifiers the import never prints); callers say which item.
 */
import { buildMultipart, mediaType, parseMultipart } from '../formats/multipart';

/**
 * (0020,000D) Study, (0020,000E) Series, (0008,0018) SOP Instance UID in DICOM JSON; in a STOW-RS answer, (0008,1199)
 * Referenced SOP Sequence (stored), (0008,1198) Failed SOP Sequence, (0008,1155) Referenced SOP Instance UID and
 * (0008,1197) Failure Reason.
 */
const TAG = {
  study: '0020000D', series: '0020000E', instance: '00080018',
  stored: '00081199', failed: '00081198', referencedInstance: '00081155', failureReason: '00081197',
} as const;
const PAGE = 500;

export class DicomWebError extends Error {}

export interface DicomWebClientOptions {
  /** The service root, e.g. http://127.0.0.1:8042/dicom-web. */
  url: string;
  /** The whole Authorization header value (`Bearer …`, `Basic …`), if the server needs one. */
  authorization?: string;
  /** Tests count or break requests through it; default the global fetch. */
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export interface InstanceRef {
  study: string;
  series: string;
  instance: string;
}

type DicomJson = Record<string, { Value?: unknown[] } | undefined>;

/** What a STOW-RS request stored: SOP Instance UIDs the server lists as stored, and those it refused with its reason code. */
export interface StowOutcome {
  stored: string[];
  failed: Array<{ instance: string; reason?: number }>;
}

function firstString(record: DicomJson, tag: string): string | undefined {
  const value = record[tag]?.Value?.[0];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The Authorization header from a token file's text: a whole header value as it is, a bare token as a bearer token. */
export function authorizationFromToken(text: string): string {
  const token = text.trim();
  if (token === '') throw new DicomWebError('the token file is empty');
  return /^(Bearer|Basic)\s+\S/i.test(token) ? token : `Bearer ${token}`;
}

export class DicomWebClient {
  private readonly root: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: DicomWebClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new DicomWebError(`--url ${options.url} is not a URL; give the DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web`);
    }
    if (!['http:', 'https:'].includes(parsed.protocol)) throw new DicomWebError(`--url must be http or https, not ${parsed.protocol}`);
    this.root = options.url.replace(/\/+$/, '');
    this.fetch = options.fetch ?? fetch;
  }

  private async get(pathAndQuery: string, accept: string, what: string): Promise<Response> {
    return this.send(pathAndQuery, { headers: { Accept: accept } }, what);
  }

  private async send(pathAndQuery: string, init: { method?: string; headers: Record<string, string>; body?: Uint8Array }, what: string, acceptStatus: number[] = []): Promise<Response> {
    let response: Response;
    try {
      response = await this.fetch(`${this.root}${pathAndQuery}`, {
        ...init,
        headers: { ...init.headers, ...(this.options.authorization ? { Authorization: this.options.authorization } : {}) },
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 300_000),
      });
    } catch (error) {
      throw new DicomWebError(`${what}: the DICOMweb server at ${this.root} did not answer (${(error as Error).message}); check --url and the network`);
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw new DicomWebError(`${what}: the DICOMweb server refused access (HTTP ${response.status}); give a valid token with --token-file`);
    }
    if (!response.ok && !acceptStatus.includes(response.status)) {
      const text = (await response.text()).slice(0, 200);
      throw new DicomWebError(`${what}: HTTP ${response.status} from the DICOMweb server${text ? ` (${text})` : ''}`);
    }
    return response;
  }

  private async searchAll(pathAndQuery: URLSearchParams, path: string, what: string): Promise<DicomJson[]> {
    const out: DicomJson[] = [];
    for (let offset = 0; ; offset += PAGE) {
      const query = new URLSearchParams(pathAndQuery);
      query.set('limit', String(PAGE));
      query.set('offset', String(offset));
      const response = await this.get(`${path}?${query}`, 'application/dicom+json', what);
      // QIDO-RS answers 204 No Content when nothing matches.
      const text = response.status === 204 ? '' : await response.text();
      let page: unknown;
      try {
        page = text.trim() === '' ? [] : JSON.parse(text);
      } catch {
        page = undefined;
      }
      if (!Array.isArray(page)) throw new DicomWebError(`${what}: the server's answer is not a DICOM JSON array; is --url the DICOMweb root (e.g. …/dicom-web)?`);
      out.push(...(page as DicomJson[]));
      if (page.length < PAGE) return out;
    }
  }

  /** Study Instance UIDs matching QIDO-RS query parameters (e.g. ModalitiesInStudy=US&StudyDate=20240101-20241231). */
  async searchStudies(query: URLSearchParams): Promise<string[]> {
    const studies = await this.searchAll(query, '/studies', 'searching studies');
    return [...new Set(studies.map((s) => firstString(s, TAG.study)).filter((uid): uid is string => uid !== undefined))];
  }

  /** Instances matching QIDO-RS query parameters across all studies (e.g. Modality=SEG), with their study and series. */
  async searchInstances(query: URLSearchParams, what: string): Promise<InstanceRef[]> {
    const instances = await this.searchAll(query, '/instances', what);
    const refs: InstanceRef[] = [];
    for (const record of instances) {
      const [study, series, instance] = [firstString(record, TAG.study), firstString(record, TAG.series), firstString(record, TAG.instance)];
      if (study && series && instance) refs.push({ study, series, instance });
    }
    return refs;
  }

  /** The instances of one study (series and SOP Instance UIDs). */
  async studyInstances(study: string, what: string): Promise<InstanceRef[]> {
    const instances = await this.searchAll(new URLSearchParams(), `/studies/${encodeURIComponent(study)}/instances`, what);
    const refs: InstanceRef[] = [];
    for (const record of instances) {
      const series = firstString(record, TAG.series);
      const instance = firstString(record, TAG.instance);
      if (series && instance) refs.push({ study, series, instance });
    }
    return refs;
  }

  /** One instance's DICOM file (Part 10) as the server stores it. */
  async retrieveInstance(ref: InstanceRef, what: string): Promise<Uint8Array> {
    const path = `/studies/${encodeURIComponent(ref.study)}/series/${encodeURIComponent(ref.series)}/instances/${encodeURIComponent(ref.instance)}`;
    const response = await this.get(path, 'multipart/related; type="application/dicom"; transfer-syntax=*', what);
    const contentType = response.headers.get('content-type') ?? '';
    const body = new Uint8Array(await response.arrayBuffer());
    if (mediaType(contentType) === 'application/dicom') return body;
    const parts = parseMultipart(body, contentType).filter((p) => mediaType(p.headers.get('content-type') ?? 'application/dicom') === 'application/dicom');
    if (parts.length !== 1) throw new DicomWebError(`${what}: expected one DICOM instance in the WADO-RS answer, got ${parts.length}`);
    return parts[0].body;
  }

  /**
   * Stores instances with STOW-RS (`POST /studies`, one multipart/related request). The answer's Referenced and Failed
   * SOP Sequences say what was stored: 200 all, 202 some, 409 none (its failures are returned, not thrown).
   */
  async storeInstances(instances: readonly Uint8Array[], what: string): Promise<StowOutcome> {
    const { body, contentType } = buildMultipart(instances, 'application/dicom');
    const response = await this.send('/studies', { method: 'POST', headers: { 'Content-Type': contentType, Accept: 'application/dicom+json' }, body }, what, [409]);
    const text = await response.text();
    let answer: unknown;
    try {
      answer = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      answer = undefined;
    }
    const record = (Array.isArray(answer) ? answer[0] : answer) as DicomJson | undefined;
    if (!record || typeof record !== 'object') throw new DicomWebError(`${what}: HTTP ${response.status} and an answer that is not DICOM JSON; the server's STOW-RS may not be at this URL`);
    const items = (tag: string) => (record[tag]?.Value ?? []) as DicomJson[];
    const stored = items(TAG.stored).map((item) => firstString(item, TAG.referencedInstance)).filter((uid): uid is string => uid !== undefined);
    const failed = items(TAG.failed).map((item) => {
      const reason = item[TAG.failureReason]?.Value?.[0];
      return { instance: firstString(item, TAG.referencedInstance) ?? '', ...(typeof reason === 'number' ? { reason } : {}) };
    });
    if (response.status === 409 && failed.length === 0) throw new DicomWebError(`${what}: HTTP 409 from the DICOMweb server: nothing was stored`);
    return { stored, failed };
  }
}
