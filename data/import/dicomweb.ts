/**
 * Imports ultrasound studies from a PACS over DICOMweb: QIDO-RS finds the studies (`studies` or a `query`) and their
 * instances, WADO-RS retrieves each instance as stored into a local cache, and the folder importer (`importDicom`)
 * then reads exactly those files — so decoding, cropping, grouping (series / study), privacy (salted hashes, no
 * identifier stored) and the per-file refusals are the same code, not a copy.
 *
 * Resumable: an instance is written under its SOP Instance UID (`<cache>/<server>/<study>/<series>/<instance>.dcm`,
 * via a hidden temporary name and a rename), so an interrupted import that is run again downloads only what is
 * missing. The cache is local like the folder a folder import reads (owner-only permissions); `<server>` is a hash
 * of the URL, so two archives never mix. The file stem is the SOP Instance UID, so `<SOPInstanceUID>_<frame>.png`
 * masks match as they do for a folder.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from '../../store/blobStore';
import { importDicom, type DicomImportOptions } from './dicom';
import { DicomWebClient, DicomWebError, type DicomWebClientOptions, type InstanceRef } from './dicomwebClient';
import type { ImportSummary } from './importCore';

export interface DicomWebImportOptions extends Omit<DicomImportOptions, 'dir' | 'files' | 'source'>, DicomWebClientOptions {
  /** Study Instance UIDs to import; or */
  studies?: readonly string[];
  /** QIDO-RS search parameters for the studies, e.g. `ModalitiesInStudy=US&StudyDate=20240101-20241231`. */
  query?: string;
  /** Where retrieved instances are kept (e.g. `<data dir>/dicomweb`). */
  cacheDir: string;
  /** Instances retrieved so far (downloaded or already in the cache), out of the selection's total. */
  onRetrieve?: (done: number, total: number) => void;
}

export interface DicomWebImportSummary extends ImportSummary {
  /** Instances downloaded by this call, and those found in the cache from an earlier (maybe interrupted) one. */
  downloaded: number;
  cached: number;
}

/** A UID as a path segment: DICOM UIDs are digits and dots; anything else would be a path trick. */
function uidSegment(uid: string, what: string): string {
  if (!/^[0-9.]{1,64}$/.test(uid) || uid.startsWith('.') || uid.includes('..')) throw new DicomWebError(`the server gave ${what} that is not a DICOM UID (digits and dots)`);
  return uid;
}

async function exists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** The folder of one server's instances in the cache. */
export function dicomWebCacheFolder(cacheDir: string, url: string): string {
  const key = createHash('sha256').update(url.replace(/\/+$/, '')).digest('hex').slice(0, 16);
  return path.join(path.resolve(cacheDir), key);
}

export async function importDicomWeb(store: BlobStore, options: DicomWebImportOptions): Promise<DicomWebImportSummary> {
  if (options.studies?.length && options.query) throw new DicomWebError('give studies or a query, not both');
  const client = new DicomWebClient(options);
  const studies = options.studies?.length ? [...new Set(options.studies)] : await client.searchStudies(new URLSearchParams(options.query ?? ''));
  if (studies.length === 0) throw new DicomWebError(options.query ? 'no study matches the query' : 'the server holds no study');

  const refs: InstanceRef[] = [];
  for (const [index, study] of studies.entries()) {
    const found = await client.studyInstances(uidSegment(study, 'a study UID'), `listing the instances of study ${index + 1} of ${studies.length}`);
    if (found.length === 0) throw new DicomWebError(`study ${index + 1} of ${studies.length} has no instance on the server (check the study UID)`);
    refs.push(...found);
  }

  const root = dicomWebCacheFolder(options.cacheDir, options.url);
  await mkdir(root, { recursive: true, mode: 0o700 });
  const files: string[] = [];
  let downloaded = 0;
  let cached = 0;
  for (const [index, ref] of refs.entries()) {
    const folder = path.join(root, uidSegment(ref.study, 'a study UID'), uidSegment(ref.series, 'a series UID'));
    const file = path.join(folder, `${uidSegment(ref.instance, 'an instance UID')}.dcm`);
    files.push(file);
    if (await exists(file)) {
      cached++;
    } else {
      const bytes = await client.retrieveInstance(ref, `retrieving instance ${index + 1} of ${refs.length}`);
      await mkdir(folder, { recursive: true, mode: 0o700 });
      // Written whole under a hidden name (listings skip it), then renamed: an interrupted write leaves no short file.
      const partial = path.join(folder, `.${ref.instance}.${process.pid}.part`);
      try {
        await writeFile(partial, bytes, { mode: 0o600 });
        await rename(partial, file);
      } finally {
        await rm(partial, { force: true });
      }
      downloaded++;
    }
    options.onRetrieve?.(index + 1, refs.length);
  }

  const { url: _url, authorization: _authorization, fetch: _fetch, timeoutMs: _timeoutMs, studies: _studies, query: _query, cacheDir: _cacheDir, onRetrieve: _onRetrieve, ...dicomOptions } = options;
  const summary = await importDicom(store, {
    ...dicomOptions,
    dir: root,
    files,
    source: 'dicomweb',
    name: options.name ?? 'DICOMweb ultrasound',
  });
  return { ...summary, downloaded, cached };
}
