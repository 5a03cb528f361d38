/**
 * ImageNet encoder weights, the way smp 0.6 gets them (Hugging Face `smp-hub/<encoder>.imagenet`), for a machine that
 * is online — and, for one that is not, the exact file to fetch and where to put it. `fetchVerified` downloads once
 * into a cache, checks the sha256 when one is known, and never leaves a partial or unverified file behind.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where smp 0.6 downloads an encoder's ImageNet weights from, and where this project caches them. */
export function imagenetWeights(encoder: string, cacheDir: string): { url: string; dir: string; file: string } {
  const repo = `smp-hub/${encoder}.imagenet`;
  const dir = path.join(cacheDir, 'weights', `${encoder}.imagenet`);
  return { url: `https://huggingface.co/${repo}/resolve/main/model.safetensors`, dir, file: path.join(dir, 'model.safetensors') };
}

/** The message for an offline machine: which file to fetch, and where to put it. */
export function offlineImagenetMessage(encoder: string, cacheDir: string): string {
  const { url, file } = imagenetWeights(encoder, cacheDir);
  return `offline: fetch ${url} and put it at ${file} (or pass its path to --encoder-weights)`;
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
    response = await fetchImpl(url);
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
