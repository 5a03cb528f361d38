import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import { scoringKeys } from '../../contracts/keys';
import { MemoryBlobStore } from '../../store/blobStore';
import { mcScorePool } from '../../ml/mcSampling';
import {
  colourOf,
  readHeatmapMax,
  uncertaintyHeatmapPng,
  UncertaintyMapWriter,
  scoresDocument,
  type ScoresDocument,
} from '../../ml/uncertaintyMap';
import { headDropoutNet, testImages } from './helpers/mcNets';

beforeAll(async () => {
  await initBackend('auto', () => {});
});

async function decode(png: Uint8Array) {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data, info, pixel: (y: number, x: number) => Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)) };
}

describe('uncertaintyHeatmapPng', () => {
  // 2 × 3 map: a ramp from 0 to 0.6 (the max).
  const map = Float32Array.from([0, 0.15, 0.3, 0.45, 0.6, 0.6]);

  it('colours [0, max] with the colour map and records the max in the PNG', async () => {
    const { png, max } = await uncertaintyHeatmapPng(map, 2, 3);
    expect(max).toBeCloseTo(0.6, 6);
    const { info, pixel } = await decode(png);
    expect([info.width, info.height, info.channels]).toEqual([3, 2, 3]);
    expect(pixel(0, 0)).toEqual([0x44, 0x01, 0x54]); // viridis at 0
    expect(pixel(1, 1)).toEqual([0xfd, 0xe7, 0x25]); // viridis at 1
    expect(pixel(0, 2)).toEqual(colourOf(0.5));
    expect(await readHeatmapMax(png)).toBeCloseTo(0.6, 6);
  });

  it('uses a given max so maps of one pool share a scale, and handles an all-zero map', async () => {
    const { png, max } = await uncertaintyHeatmapPng(map, 2, 3, { max: 1.2, colourMap: 'gray' });
    expect(max).toBe(1.2);
    const { pixel } = await decode(png);
    expect(pixel(1, 1)).toEqual([128, 128, 128]);
    const zero = await uncertaintyHeatmapPng(new Float32Array(6), 3, 2);
    expect(zero.max).toBe(0);
    expect((await decode(zero.png)).pixel(2, 1)).toEqual([0x44, 0x01, 0x54]);
  });

  it('rejects a map whose size does not match', async () => {
    await expect(uncertaintyHeatmapPng(map, 3, 3)).rejects.toThrow(/3×3 needs 9/);
  });
});

describe('writing maps and scores to the store', () => {
  it('writes one PNG per image while sampling, and scores.json pointing at them', async () => {
    const store = new MemoryBlobStore();
    const prefix = 'runs/wf-1/phase-2/';
    const writer = new UncertaintyMapWriter(store, prefix, 'mfe');
    const ids = ['video 1/frame#3', 'video2/f7', 'video2/f8'];
    const net = headDropoutNet(1);
    const before = tf.memory().numTensors;
    const results = await mcScorePool({
      net,
      pool: { ids, load: async (batch) => testImages(batch) },
      samples: 3,
      batchSize: 2,
      functions: ['mfe', 'random'],
      randomSeed: 1,
      maps: writer,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(await store.list('runs/wf-1/phase-2/maps/')).toEqual(ids.map((id) => scoringKeys.map(prefix, id)).sort());

    const doc: ScoresDocument = scoresDocument(results, { samples: 3, mode: 'fast', reduce: 'mean', functions: ['mfe', 'random'] }, writer);
    expect(doc.mapFunction).toBe('mfe');
    expect(doc.items.map((i) => i.id)).toEqual(ids);
    for (const item of doc.items) {
      expect(item.scores.mfe).toBeGreaterThan(0);
      const png = await store.getBytes(item.map!.key);
      expect(await readHeatmapMax(png)).toBeCloseTo(item.map!.max, 6);
      // The mean of the map is the score, so the max cannot be below it.
      expect(item.map!.max).toBeGreaterThanOrEqual(item.scores.mfe!);
      expect((await sharp(png).metadata()).width).toBe(16);
    }
  });
});
