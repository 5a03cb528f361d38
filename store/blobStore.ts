/**
 * The storage contract the ML library needs (checkpoints, tensors, images). The MinIO-backed
 * implementation lives in store/objectStore.ts; MemoryBlobStore serves unit tests.
 */
export interface BlobStore {
  putBytes(key: string, data: Uint8Array, contentType?: string): Promise<void>;
  /** Throws an error whose message names the key when it does not exist. */
  getBytes(key: string): Promise<Uint8Array>;
  exists(key: string): Promise<boolean>;
  /** Keys under a prefix, sorted. */
  list(prefix: string): Promise<string[]>;
  remove(key: string): Promise<void>;
}

export class MissingKeyError extends Error {
  constructor(readonly key: string, where = 'the object store') {
    super(`No object '${key}' in ${where}.`);
    this.name = 'MissingKeyError';
  }
}

export class MemoryBlobStore implements BlobStore {
  private readonly objects = new Map<string, Uint8Array>();

  async putBytes(key: string, data: Uint8Array): Promise<void> {
    this.objects.set(key, new Uint8Array(data));
  }

  async getBytes(key: string): Promise<Uint8Array> {
    const data = this.objects.get(key);
    if (!data) throw new MissingKeyError(key, 'the in-memory store');
    return new Uint8Array(data);
  }

  async exists(key: string): Promise<boolean> {
    return this.objects.has(key);
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async remove(key: string): Promise<void> {
    this.objects.delete(key);
  }
}

/** Float32 values as object bytes: little-endian, in order (images, feature rows). */
export function encodeFloat32(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytes;
}

/** The inverse of `encodeFloat32`. */
export function decodeFloat32(bytes: Uint8Array, key = 'object'): Float32Array {
  if (bytes.length % 4 !== 0) throw new Error(`Object '${key}' has ${bytes.length} bytes, not whole float32 values.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
