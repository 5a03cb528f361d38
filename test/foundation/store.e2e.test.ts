import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { MissingKeyError } from '../../store/blobStore';
import { decodeTensor, encodeTensor, ObjectStore, ObjectStoreError } from '../../store/objectStore';

const config = loadConfig();
const store = new ObjectStore(config.minio);
const prefix = `test/store-${randomUUID()}/`;

describe('ObjectStore against the real MinIO', () => {
  beforeAll(async () => {
    await store.ensureBucket();
  });

  it('creates the bucket idempotently', async () => {
    await store.ensureBucket();
    await store.ensureBucket();
    expect(await store.client.bucketExists(store.bucket)).toBe(true);
  });

  it('round-trips bytes, JSON and images', async () => {
    const bytes = new Uint8Array([0, 1, 2, 254, 255]);
    await store.putBytes(`${prefix}a.bin`, bytes);
    expect(Array.from(await store.getBytes(`${prefix}a.bin`))).toEqual([0, 1, 2, 254, 255]);
    await store.putJson(`${prefix}b.json`, { phase: 3, ids: ['x', 'y'] });
    expect(await store.getJson(`${prefix}b.json`)).toEqual({ phase: 3, ids: ['x', 'y'] });
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
    await store.putImage(`${prefix}c.png`, png);
    const stat = await store.client.statObject(store.bucket, `${prefix}c.png`);
    expect(stat.metaData['content-type']).toBe('image/png');
    expect(await store.exists(`${prefix}c.png`)).toBe(true);
    expect(await store.exists(`${prefix}nope.png`)).toBe(false);
  });

  it('round-trips float tensors with shape and dtype', async () => {
    const data = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i / 7 - 1);
    await store.putTensor(`${prefix}t.bin`, { shape: [2, 3, 4], dtype: 'float32', data });
    const back = await store.getTensor(`${prefix}t.bin`);
    expect(back.shape).toEqual([2, 3, 4]);
    expect(back.dtype).toBe('float32');
    expect(Array.from(back.data)).toEqual(Array.from(data));
    const ints = await (async () => {
      await store.putTensor(`${prefix}i.bin`, { shape: [3], dtype: 'int32', data: Int32Array.from([-5, 0, 7]) });
      return store.getTensor(`${prefix}i.bin`);
    })();
    expect(Array.from(ints.data)).toEqual([-5, 0, 7]);
  });

  it('rejects tensors whose data does not fit the shape, and truncated tensor objects', () => {
    expect(() => encodeTensor({ shape: [2, 2], dtype: 'float32', data: new Float32Array(3) })).toThrow(/needs 4/);
    const encoded = encodeTensor({ shape: [4], dtype: 'float32', data: new Float32Array(4) });
    expect(() => decodeTensor(encoded.slice(0, encoded.length - 2), 'k')).toThrow(/truncated/);
    expect(() => decodeTensor(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 'k')).toThrow(/not a stored tensor/);
  });

  it('lists by prefix, sorted', async () => {
    await store.putBytes(`${prefix}list/2`, new Uint8Array([2]));
    await store.putBytes(`${prefix}list/1`, new Uint8Array([1]));
    await store.putBytes(`${prefix}list/sub/3`, new Uint8Array([3]));
    expect(await store.list(`${prefix}list/`)).toEqual([`${prefix}list/1`, `${prefix}list/2`, `${prefix}list/sub/3`]);
  });

  it('gives a clear error naming a missing key', async () => {
    await expect(store.getBytes(`${prefix}missing.bin`)).rejects.toBeInstanceOf(MissingKeyError);
    await expect(store.getBytes(`${prefix}missing.bin`)).rejects.toThrow(`${prefix}missing.bin`);
  });

  it('serves presigned GET and PUT URLs that work over plain HTTP', async () => {
    const putUrl = await store.presignedPutUrl(`${prefix}presigned.txt`, 600);
    const put = await fetch(putUrl, { method: 'PUT', body: 'uploaded by a labelling tool' });
    expect(put.ok).toBe(true);
    const getUrl = await store.presignedGetUrl(`${prefix}presigned.txt`, 600);
    const got = await fetch(getUrl);
    expect(await got.text()).toBe('uploaded by a labelling tool');
  });

  it('explains wrong credentials instead of failing obscurely', async () => {
    const wrong = new ObjectStore({ ...config.minio, secretKey: 'definitely-wrong-secret' }, { attempts: 1 });
    const failure = wrong.getBytes(`${prefix}a.bin`);
    await expect(failure).rejects.toBeInstanceOf(ObjectStoreError);
    await expect(wrong.getBytes(`${prefix}a.bin`)).rejects.toThrow(/MINIO_ROOT_USER and MINIO_ROOT_PASSWORD/);
  });

  it('retries, then explains an unreachable server', async () => {
    const down = new ObjectStore({ ...config.minio, port: 1 }, { attempts: 2, baseDelayMs: 10 });
    await expect(down.getBytes('x')).rejects.toThrow(/unreachable .* after 2 attempts/);
  });
});
