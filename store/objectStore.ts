/**
 * Typed wrapper over the MinIO client: bytes, JSON, images, float tensors, listing, presigned URLs.
 * Transient failures are retried; a missing key and bad credentials give errors that say what to do.
 */
import * as Minio from 'minio';
import type { Readable } from 'node:stream';
import type { MinioConfig } from '../config';
import { type BlobStore, MissingKeyError } from './blobStore';

export type TensorDtype = 'float32' | 'int32' | 'uint8';
type TypedArrayOf<D extends TensorDtype> = D extends 'float32' ? Float32Array : D extends 'int32' ? Int32Array : Uint8Array;

export interface StoredTensor<D extends TensorDtype = TensorDtype> {
  shape: number[];
  dtype: D;
  data: TypedArrayOf<D>;
}

export class ObjectStoreError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = 'ObjectStoreError';
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'SlowDown', 'InternalError',
  'RequestTimeout', 'ServiceUnavailable', 'XMinioServerNotInitialized',
]);
const CREDENTIAL_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied']);
const MISSING_CODES = new Set(['NoSuchKey', 'NotFound']);

/** Tensor object layout: magic 'ETN1', uint32 header length, JSON header, zero padding to 8 bytes, raw little-endian data. */
const TENSOR_MAGIC = 0x314e5445; // 'ETN1' read as little-endian uint32

export function encodeTensor(tensor: StoredTensor): Uint8Array {
  const expected = tensor.shape.reduce((a, b) => a * b, 1);
  if (tensor.data.length !== expected) {
    throw new ObjectStoreError(`Tensor data has ${tensor.data.length} elements but shape [${tensor.shape}] needs ${expected}.`);
  }
  const header = new TextEncoder().encode(JSON.stringify({ shape: tensor.shape, dtype: tensor.dtype }));
  const dataOffset = Math.ceil((8 + header.length) / 8) * 8;
  const bytes = new Uint8Array(dataOffset + tensor.data.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, TENSOR_MAGIC, true);
  view.setUint32(4, header.length, true);
  bytes.set(header, 8);
  bytes.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength), dataOffset);
  return bytes;
}

export function decodeTensor(bytes: Uint8Array, key = 'tensor'): StoredTensor {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 8 || view.getUint32(0, true) !== TENSOR_MAGIC) {
    throw new ObjectStoreError(`'${key}' is not a stored tensor (bad magic).`);
  }
  const headerLength = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as { shape: number[]; dtype: TensorDtype };
  const dataOffset = Math.ceil((8 + headerLength) / 8) * 8;
  const raw = bytes.slice(dataOffset); // copy: aligned, independent of the source buffer
  const count = header.shape.reduce((a, b) => a * b, 1);
  const bytesPerElement = header.dtype === 'uint8' ? 1 : 4;
  if (raw.byteLength !== count * bytesPerElement) {
    throw new ObjectStoreError(`'${key}' is truncated: ${raw.byteLength} data bytes for shape [${header.shape}] ${header.dtype}.`);
  }
  const data = header.dtype === 'float32' ? new Float32Array(raw.buffer, 0, count)
    : header.dtype === 'int32' ? new Int32Array(raw.buffer, 0, count)
      : raw;
  return { shape: header.shape, dtype: header.dtype, data };
}

async function readAll(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

function errorCode(error: unknown): string | undefined {
  const e = error as { code?: string; cause?: { code?: string } };
  return e?.code ?? e?.cause?.code;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** True when MinIO could not be reached even after the retries: an outage to wait out, not a bad request. */
export function isStoreUnreachable(error: unknown): boolean {
  return error instanceof ObjectStoreError && error.code !== undefined && TRANSIENT_CODES.has(error.code);
}

export interface ObjectStoreOptions {
  /** Attempts for transient failures (connection resets, 503s). */
  attempts?: number;
  baseDelayMs?: number;
}

/** host[:port] → the parts a MinIO client takes. */
function parsePublicEndpoint(endpoint: string, fallbackPort: number): { endPoint: string; port: number } {
  const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(endpoint);
  if (!match) throw new ObjectStoreError(`MINIO_PUBLIC_ENDPOINT=${endpoint} is not host or host:port.`);
  return { endPoint: match[1], port: match[2] ? Number(match[2]) : fallbackPort };
}

export class ObjectStore implements BlobStore {
  readonly client: Minio.Client;
  /** Signs the URLs handed to people and tools: the public endpoint (MINIO_PUBLIC_ENDPOINT) when set. */
  private readonly signer: Minio.Client;
  readonly bucket: string;
  private readonly attempts: number;
  private readonly baseDelayMs: number;

  constructor(private readonly config: MinioConfig, options: ObjectStoreOptions = {}) {
    this.client = new Minio.Client({
      endPoint: config.endPoint,
      port: config.port,
      useSSL: config.useSSL,
      accessKey: config.accessKey,
      secretKey: config.secretKey,
      region: config.region,
    });
    // Presigning is local (the region is given, so no request is made); the URL's host must be the one its users
    // reach, e.g. a compose deployment's public name rather than `minio` inside the compose network.
    this.signer = config.publicEndpoint
      ? new Minio.Client({
        ...parsePublicEndpoint(config.publicEndpoint, config.port), useSSL: config.useSSL, accessKey: config.accessKey,
        secretKey: config.secretKey, region: config.region,
      })
      : this.client;
    this.bucket = config.bucket;
    this.attempts = options.attempts ?? 4;
    this.baseDelayMs = options.baseDelayMs ?? 200;
  }

  get endpoint(): string {
    return `${this.config.useSSL ? 'https' : 'http'}://${this.config.endPoint}:${this.config.port}`;
  }

  /** Runs one client call, retrying transient failures and translating the rest into clear errors. */
  private async call<T>(what: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await fn();
      } catch (error) {
        const code = errorCode(error);
        if (key !== undefined && code && MISSING_CODES.has(code)) throw new MissingKeyError(key, `bucket '${this.bucket}'`);
        if (code && CREDENTIAL_CODES.has(code)) {
          throw new ObjectStoreError(
            `MinIO at ${this.endpoint} refused the credentials (${code}) while trying to ${what}; ` +
            'check MINIO_ROOT_USER and MINIO_ROOT_PASSWORD.', code);
        }
        if (code === 'NoSuchBucket') {
          throw new ObjectStoreError(`Bucket '${this.bucket}' does not exist at ${this.endpoint}; run \`npm run services:start\` or create it.`, code);
        }
        if (code && TRANSIENT_CODES.has(code) && attempt < this.attempts) {
          await sleep(this.baseDelayMs * 2 ** (attempt - 1));
          continue;
        }
        if (code && TRANSIENT_CODES.has(code)) {
          throw new ObjectStoreError(`MinIO at ${this.endpoint} is unreachable (${code}) after ${attempt} attempts to ${what}; ` +
            'is it running? (`npm run services:status`)', code);
        }
        throw error;
      }
    }
  }

  /** Creates the bucket if absent; harmless when it exists. */
  async ensureBucket(): Promise<void> {
    const exists = await this.call('check the bucket', undefined, () => this.client.bucketExists(this.bucket));
    if (exists) return;
    try {
      await this.call('create the bucket', undefined, () => this.client.makeBucket(this.bucket, this.config.region));
    } catch (error) {
      // Another process may have created it between the two calls.
      const code = errorCode(error);
      if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw error;
    }
  }

  async putBytes(key: string, data: Uint8Array, contentType = 'application/octet-stream'): Promise<void> {
    const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await this.call(`write '${key}'`, undefined, () =>
      this.client.putObject(this.bucket, key, buffer, buffer.length, { 'Content-Type': contentType }));
  }

  async getBytes(key: string): Promise<Uint8Array> {
    return this.call(`read '${key}'`, key, async () => readAll(await this.client.getObject(this.bucket, key)));
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.call(`stat '${key}'`, key, () => this.client.statObject(this.bucket, key));
      return true;
    } catch (error) {
      if (error instanceof MissingKeyError) return false;
      throw error;
    }
  }

  async size(key: string): Promise<number> {
    const stat = await this.call(`stat '${key}'`, key, () => this.client.statObject(this.bucket, key));
    return stat.size;
  }

  async list(prefix: string): Promise<string[]> {
    return this.call(`list '${prefix}'`, undefined, async () => {
      const keys: string[] = [];
      for await (const item of this.client.listObjectsV2(this.bucket, prefix, true)) {
        const name = (item as { name?: string }).name;
        if (name) keys.push(name);
      }
      return keys.sort();
    });
  }

  /** Keys under a prefix with their last-modified times (ms since the epoch), sorted by key. */
  async listWithTimes(prefix: string): Promise<{ key: string; modifiedMs: number }[]> {
    return this.call(`list '${prefix}'`, undefined, async () => {
      const out: { key: string; modifiedMs: number }[] = [];
      for await (const item of this.client.listObjectsV2(this.bucket, prefix, true)) {
        const { name, lastModified } = item as { name?: string; lastModified?: Date };
        if (name) out.push({ key: name, modifiedMs: lastModified ? lastModified.getTime() : 0 });
      }
      return out.sort((a, b) => a.key.localeCompare(b.key));
    });
  }

  async remove(key: string): Promise<void> {
    await this.call(`remove '${key}'`, undefined, () => this.client.removeObject(this.bucket, key));
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.putBytes(key, new TextEncoder().encode(JSON.stringify(value)), 'application/json');
  }

  async getJson<T>(key: string): Promise<T> {
    const bytes = await this.getBytes(key);
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as T;
    } catch {
      throw new ObjectStoreError(`'${key}' is not valid JSON.`);
    }
  }

  /** Stores an encoded image (PNG, JPEG, …) with its content type. */
  async putImage(key: string, encoded: Uint8Array, format: 'png' | 'jpeg' | 'tiff' = 'png'): Promise<void> {
    await this.putBytes(key, encoded, `image/${format}`);
  }

  async getImage(key: string): Promise<Uint8Array> {
    return this.getBytes(key);
  }

  async putTensor(key: string, tensor: StoredTensor): Promise<void> {
    await this.putBytes(key, encodeTensor(tensor), 'application/x-echo-tensor');
  }

  async getTensor(key: string): Promise<StoredTensor> {
    return decodeTensor(await this.getBytes(key), key);
  }

  async presignedGetUrl(key: string, expirySeconds = 7 * 24 * 3600): Promise<string> {
    return this.call(`presign GET '${key}'`, undefined, () => this.signer.presignedGetObject(this.bucket, key, expirySeconds));
  }

  async presignedPutUrl(key: string, expirySeconds = 7 * 24 * 3600): Promise<string> {
    return this.call(`presign PUT '${key}'`, undefined, () => this.signer.presignedPutObject(this.bucket, key, expirySeconds));
  }
}
