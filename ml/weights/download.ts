/**
 * ImageNet encoder weights, the way smp 0.6 gets them (Hugging Face `smp-hub/<encoder>.imagenet`), for a machine that
 * is online — and, for one that is not, the exact file to fetch and where to put it. `fetchVerified` downloads once
 * into a cache, checks the sha256 when one is known, and never leaves a partial or unverified file behind.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The Hugging Face hub, where smp 0.6 finds its encoders' ImageNet weights. */
export const DEFAULT_WEIGHTS_HUB = 'https://huggingface.co';

/** Where smp 0.6 downloads an encoder's ImageNet weights from, and where this project caches them. */
export function imagenetWeights(encoder: string, cacheDir: string, hub = DEFAULT_WEIGHTS_HUB): { url: string; dir: string; file: string } {
  const repo = `smp-hub/${encoder}.imagenet`;
  const dir = path.join(cacheDir, 'weights', `${encoder}.imagenet`);
  return { url: `${hub}/${repo}/resolve/main/model.safetensors`, dir, file: path.join(dir, 'model.safetensors') };
}

/** The message for an offline machine: which file to fetch, and where to put it. */
export function offlineImagenetMessage(encoder: string, cacheDir: string, hub = DEFAULT_WEIGHTS_HUB): string {
  const { url, file } = imagenetWeights(encoder, cacheDir, hub);
  return `offline: fetch ${url} and put it at ${file} (or pass its path to --encoder-weights)`;
}

/**
 * The sha256 the hub declares for a file: Hugging Face answers a HEAD of `resolve/` with the LFS object's sha256 in
 * `X-Linked-Etag` (on the redirect) or `ETag`, as huggingface_hub reads it. Undefined when it declares none.
 */
export async function declaredSha256(url: string, fetchImpl: typeof fetch = fetch): Promise<string | undefined> {
  const response = await fetchImpl(url, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(30_000) });
  if (response.status >= 400) throw new DownloadError(`${url} answered HTTP ${response.status}`);
  for (const header of ['x-linked-etag', 'etag']) {
    const value = response.headers.get(header)?.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
    if (value && /^[0-9a-f]{64}$/.test(value)) return value;
  }
  return undefined;
}

/**
 * `--encoder-weights imagenet`: the cached file if there is one; otherwise downloads it from the hub once, checked
 * against the sha256 the hub declares (a hub that declares none: the file is kept and its hash reported). A machine
 * that cannot reach the hub gets a DownloadError naming the file to fetch and where to put it.
 */
export async function fetchImagenetWeights(
  encoder: string, cacheDir: string, hub = DEFAULT_WEIGHTS_HUB, log: (message: string) => void = () => {}, fetchImpl: typeof fetch = fetch,
): Promise<string> {
  const { url, file } = imagenetWeights(encoder, cacheDir, hub);
  if (fs.existsSync(file)) return file;
  let sha256: string | undefined;
  try {
    sha256 = await declaredSha256(url, fetchImpl);
  } catch (error) {
    if (error instanceof DownloadError) throw error;
    throw new DownloadError(`cannot reach ${hub} (${(error as Error).message}); ${offlineImagenetMessage(encoder, cacheDir, hub)}`);
  }
  log(`downloading ${url} to ${file}${sha256 ? ` (sha256 ${sha256.slice(0, 12)}…)` : ''}…`);
  const actual = await fetchVerified(url, file, sha256, fetchImpl);
  log(sha256 ? `downloaded, sha256 verified` : `downloaded; the hub declared no sha256, the file's is ${actual}`);
  return file;
}

export class DownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DownloadError';
  }
}

/**
 * Downloads `url` to `file` unless it is already there (and matches `sha256`, when given): written to a temporary
 * name, hashed, and renamed only when the hash matches. Returns the file's sha256.
 */
export async function fetchVerified(url: string, file: string, sha256?: string, fetchImpl: typeof fetch = fetch): Promise<string> {
  const hashOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
  if (fs.existsSync(file)) {
    const existing = hashOf(fs.readFileSync(file));
    if (!sha256 || existing === sha256) return existing;
    fs.rmSync(file);
  }
  let response: Response;
  try {
    response = await fetchImpl(url, { signal: AbortSignal.timeout(30 * 60_000) });
  } catch (error) {
    throw new DownloadError(`cannot download ${url} (${(error as Error).message}); ${path.basename(file)} can be fetched elsewhere and put at ${file}`);
  }
  if (!response.ok) throw new DownloadError(`download of ${url} failed: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const actual = hashOf(bytes);
  if (sha256 && actual !== sha256) throw new DownloadError(`download of ${url} has sha256 ${actual}, expected ${sha256}: not kept`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const partial = `${file}.partial-${process.pid}`;
  fs.writeFileSync(partial, bytes);
  fs.renameSync(partial, file);
  return actual;
}
