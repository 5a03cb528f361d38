/**
 * `predict` in the CLI process with an exported package — no services: outputs at the original size of non-square
 * PNGs and of DICOM frames cut to their ultrasound region, the CSVs, overlays and uncertainty maps, the resize the
 * importers use, a fresh process that loads the package with the loader alone, and the command line's checks.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { resizeImage } from '../../data/import/preprocess';
import { writeCamusLike } from '../../data/synthetic';
import { readDicom } from '../../data/formats/dicom';
import { type FrameRegion, modelInput, resizeGrey } from '../../ml/inference';
import { writeModelPackage } from '../../export/package';
import { initBackend } from '../../ml/backend';
import { MemoryBlobStore } from '../../store/blobStore';
import { fromUint16, type GreyFrame, loadStoredModel, toUint16 } from '../../ml/predict';
import type { SegmentationNet } from '../../ml/zoo';
import { maskPng, transferSyntax, writeDicom } from '../data/dicomFixtures';
import { cli, echoFrames, expectUsageRefusals, framePng, MODEL_SIZE, parseCsv, readMask, readPng, storeTinyModel } from './helpers';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-predict-'));
const packageDir = path.join(scratch, 'package');
const pngDir = path.join(scratch, 'png');
const dicomDir = path.join(scratch, 'dicom');
/** Services nobody listens on: a command that needed them would fail. */
const offline = { TEMPORAL_ADDRESS: '127.0.0.1:9', MINIO_PORT: '9' };

// A 48×64 DICOM with three frames; its 2D tissue region is x 8…55, y 4…43 (48×40), 0.5 mm × 0.4 mm per pixel.
const DICOM_ROWS = 48;
const DICOM_COLUMNS = 64;
const REGION: FrameRegion = { x: 8, y: 4, width: 48, height: 40 };
const SPACING_MM: [number, number] = [0.4, 0.5];

let net: SegmentationNet;
const frames = new Map<string, { frame: GreyFrame; crop?: FrameRegion }>();

/** The expected mask: the model's own mask of the model input, resized back by nearest neighbour and put in place. */
function expectedMask(frame: GreyFrame, crop: FrameRegion | undefined): Uint8Array {
  const small = tf.tidy(() => {
    const input = modelInput(frame, crop, [MODEL_SIZE, MODEL_SIZE]).expandDims(0);
    return (net.model.predict(input) as tf.Tensor).greater(0.5).dataSync();
  });
  const region = crop ?? { x: 0, y: 0, width: frame.width, height: frame.height };
  const out = new Uint8Array(frame.width * frame.height);
  for (let y = 0; y < region.height; y++) {
    for (let x = 0; x < region.width; x++) {
      const sy = Math.min(MODEL_SIZE - 1, Math.floor(((y + 0.5) * MODEL_SIZE) / region.height));
      const sx = Math.min(MODEL_SIZE - 1, Math.floor(((x + 0.5) * MODEL_SIZE) / region.width));
      out[(region.y + y) * frame.width + region.x + x] = small[sy * MODEL_SIZE + sx];
    }
  }
  return out;
}

const quantised = (frame: GreyFrame): GreyFrame => fromUint16(toUint16(frame.data), frame.width, frame.height);
const count = (mask: Uint8Array) => mask.reduce((a, b) => a + b, 0);

describe('predict at the original size, in the CLI process, from a package', () => {
  beforeAll(async () => {
    await initBackend(undefined, () => {});
    const store = new MemoryBlobStore();
    await storeTinyModel(store, 'models/tiny');
    net = await loadStoredModel(store, 'models/tiny');
    await writeModelPackage(store, { modelKey: 'models/tiny' }, packageDir);

    fs.mkdirSync(pngDir, { recursive: true });
    for (const f of echoFrames([40, 56], { frames: 3 })) {
      fs.writeFileSync(path.join(pngDir, `${f.id}.png`), await framePng(f));
      // A pairs folder's masks are not images to segment.
      fs.writeFileSync(path.join(pngDir, `${f.id}_mask.png`), await maskPng(f.mask.map((v) => v * 255), 56, 40));
      // What the CLI reads from the 8-bit PNG: value / 255, as a 16-bit level.
      frames.set(f.id, { frame: quantised({ width: 56, height: 40, data: Float32Array.from(f.image, (v) => Math.round(v * 255) / 255) }) });
    }
    fs.mkdirSync(dicomDir, { recursive: true });
    const written = await writeDicom({
      transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', rows: DICOM_ROWS, columns: DICOM_COLUMNS, frames: 3,
      regions: [{ spatialFormat: 1, minX: 8, minY: 4, maxX: 55, maxY: 43, units: 3, deltaX: 0.05, deltaY: 0.04 }],
    });
    fs.writeFileSync(path.join(dicomDir, 'clip.dcm'), written.bytes);
    const dicom = readDicom(written.bytes);
    for (let n = 1; n <= 3; n++) frames.set(`clip_f000${n}`, { frame: quantised(await dicom.frame(n)), crop: REGION });
  });

  afterAll(() => {
    net?.model.dispose();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('resizes to the model as the importers do (Lanczos-3, libvips) when shrinking', async () => {
    for (const size of [[40, 56], [90, 120]] as const) {
      const frame = echoFrames([size[0], size[1]], { frames: 1 })[0];
      const importer = await resizeImage({ width: frame.width, height: frame.height, data: frame.image }, [32, 32]);
      const ours = tf.tidy(() => resizeGrey(tf.tensor2d(frame.image, [frame.height, frame.width]), 32, 32).dataSync());
      const meanDifference = importer.reduce((sum, v, i) => sum + Math.abs(v - ours[i]), 0) / importer.length;
      expect(meanDifference).toBeLessThan(0.002);
    }
  });

  it('writes masks of non-square PNGs at their size, equal to the model\'s mask resized back, with overlays and uncertainty maps', async () => {
    const out = path.join(scratch, 'out-png');
    const run = await cli(['predict', '--package', packageDir, '--input', pngDir, '--out', out, '--overlay', '--uncertainty', '--samples', '3', '--json'], offline);
    expect(run.status, run.err).toBe(0);
    const summary = JSON.parse(run.out) as { mode: string; images: number; videos: number };
    expect(summary).toMatchObject({ mode: 'local', images: 3, videos: 1 });
    const rows = parseCsv(fs.readFileSync(path.join(out, 'predictions.csv'), 'utf8'));
    expect(rows.map((r) => r.image)).toEqual(['video000_frame000', 'video000_frame001', 'video000_frame002']);
    for (const row of rows) {
      const { width, height, mask } = await readMask(path.join(out, row.mask));
      expect([width, height]).toEqual([56, 40]);
      const expected = expectedMask(frames.get(row.image)!.frame, undefined);
      expect(count(expected)).toBeGreaterThan(0);
      expect(count(expected)).toBeLessThan(expected.length);
      expect(Buffer.from(mask).equals(Buffer.from(expected))).toBe(true);
      expect(row).toMatchObject({ video: 'video000', width: '56', height: '40', lv_area_px: String(count(mask)), lv_area_mm2: '' });
      expect(Number(row.uncertainty)).toBeGreaterThan(0);
      for (const file of [row.overlay, row.uncertainty_map]) {
        expect(await readPng(path.join(out, file))).toMatchObject({ width: 56, height: 40, channels: 3 });
      }
      // The overlay is the frame where there is no contour, and orange on the mask's boundary only.
      const overlay = await readPng(path.join(out, row.overlay));
      const grey = frames.get(row.image)!.frame.data;
      let contour = 0;
      for (let p = 0; p < mask.length; p++) {
        const [r, g, b] = overlay.data.subarray(p * 3, p * 3 + 3);
        if (r === 255 && g === 128 && b === 0) {
          contour += 1;
          expect(mask[p]).toBe(1);
        } else {
          expect([r, g, b]).toEqual(Array(3).fill(Math.round(grey[p] * 255)));
        }
      }
      expect(contour).toBeGreaterThan(0);
    }
  });

  it('cuts DICOM frames to their ultrasound region: background outside it, the model\'s mask inside, areas in mm², ED and ES per video', async () => {
    const out = path.join(scratch, 'out-dicom');
    const run = await cli(['predict', '--package', packageDir, '--input', dicomDir, '--out', out, '--overlay', '--uncertainty', '--samples', '2', '--batch', '2', '--json'], offline);
    expect(run.status, run.err).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ mode: 'local', images: 3, videos: 1, batches: 2 });
    const rows = parseCsv(fs.readFileSync(path.join(out, 'predictions.csv'), 'utf8'));
    expect(rows.map((r) => r.image)).toEqual(['clip_f0001', 'clip_f0002', 'clip_f0003']);
    const areas: number[] = [];
    for (const row of rows) {
      const { width, height, mask } = await readMask(path.join(out, row.mask));
      expect([width, height]).toEqual([DICOM_COLUMNS, DICOM_ROWS]);
      for (let y = 0; y < DICOM_ROWS; y++) {
        for (let x = 0; x < DICOM_COLUMNS; x++) {
          const inside = x >= REGION.x && x < REGION.x + REGION.width && y >= REGION.y && y < REGION.y + REGION.height;
          if (!inside) expect(mask[y * DICOM_COLUMNS + x]).toBe(0);
        }
      }
      const expected = expectedMask(frames.get(row.image)!.frame, REGION);
      expect(count(expected)).toBeGreaterThan(0);
      expect(Buffer.from(mask).equals(Buffer.from(expected))).toBe(true);
      areas.push(count(mask));
      expect(Number(row.lv_area_px)).toBe(count(mask));
      expect(Number(row.lv_area_mm2)).toBeCloseTo(count(mask) * SPACING_MM[0] * SPACING_MM[1], 4);
      // The uncertainty map is the original size, with the map's zero colour outside the region.
      const map = await readPng(path.join(out, row.uncertainty_map));
      expect([map.width, map.height]).toEqual([DICOM_COLUMNS, DICOM_ROWS]);
      const corner = Array.from(map.data.subarray(0, 3));
      expect(corner).toEqual([0x44, 0x01, 0x54]);
      expect(await readPng(path.join(out, row.overlay))).toMatchObject({ width: DICOM_COLUMNS, height: DICOM_ROWS });
    }
    const ed = rows[areas.indexOf(Math.max(...areas))].image;
    const es = rows[areas.indexOf(Math.min(...areas))].image;
    const videos = parseCsv(fs.readFileSync(path.join(out, 'videos.csv'), 'utf8'));
    expect(videos).toHaveLength(1);
    expect(videos[0]).toMatchObject({ video: 'clip', frames: '3', ed_image: ed, ed_lv_area_px: String(Math.max(...areas)), es_image: es, es_lv_area_px: String(Math.min(...areas)) });
    expect(Number(videos[0].es_lv_area_mm2)).toBeCloseTo(Math.min(...areas) * 0.2, 4);
    expect(rows.find((r) => r.image === ed)!.cycle_candidate).toContain('ED');

    // A fresh process that imports only the loader gets the same masks from the package (same batches as predict).
    const job = { batchSize: 2, frames: [] as { id: string; width: number; height: number; file: string; crop?: FrameRegion }[] };
    for (const row of rows) {
      const { frame, crop } = frames.get(row.image)!;
      const file = path.join(scratch, `${row.image}.u16`);
      fs.writeFileSync(file, toUint16(frame.data));
      job.frames.push({ id: row.image, width: frame.width, height: frame.height, file, crop });
    }
    fs.writeFileSync(path.join(scratch, 'job.json'), JSON.stringify(job));
    const loaded = await new Promise<{ status: number; err: string }>((resolve) => {
      execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), [path.join('test', 'predict', 'loaderProcess.ts'), packageDir, path.join(scratch, 'job.json'), path.join(scratch, 'loaded.json')],
        { cwd: projectRoot, timeout: 120_000 }, (error, _out, err) => resolve({ status: error ? 1 : 0, err }));
    });
    expect(loaded.status, loaded.err).toBe(0);
    const result = JSON.parse(fs.readFileSync(path.join(scratch, 'loaded.json'), 'utf8')) as { backend: string; inputSize: number[]; masks: Record<string, string> };
    expect(result.inputSize).toEqual([MODEL_SIZE, MODEL_SIZE]);
    for (const row of rows) {
      const { mask } = await readMask(path.join(out, row.mask));
      expect(Buffer.from(result.masks[row.image], 'base64').equals(Buffer.from(mask))).toBe(true);
    }
  });

  it('reads a CAMUS release: per patient and view the half-sequence frames, with the files\' spacing, at their size', async () => {
    const camusDir = path.join(scratch, 'camus');
    const echo = echoFrames([36, 44], { frames: 6, videos: 2, seed: 8 });
    const written = await writeCamusLike(camusDir, echo, { format: 'nifti' });
    const out = path.join(scratch, 'out-camus');
    const run = await cli(['predict', '--package', packageDir, '--input', camusDir, '--out', out, '--json'], offline);
    expect(run.status, run.err).toBe(0);
    const rows = parseCsv(fs.readFileSync(path.join(out, 'predictions.csv'), 'utf8'));
    expect([...new Set(rows.map((r) => r.video))]).toEqual(written.patients.map((p) => `${p}_2CH`));
    expect(rows.every((r) => /^patient\d{4}_2CH_hs\d{3}$/.test(r.image) && r.width === '44' && r.height === '36')).toBe(true);
    expect(rows.length).toBeGreaterThan(2);
    for (const row of rows) {
      const { width, height, mask } = await readMask(path.join(out, row.mask));
      expect([width, height]).toEqual([44, 36]);
      expect(Number(row.lv_area_px)).toBe(count(mask));
      const mm = echo.find((f) => row.video === `patient${String(f.video + 1).padStart(4, '0')}_2CH`)!.geometry.mmPerPixel;
      expect(Math.abs(Number(row.lv_area_mm2) - count(mask) * mm * mm)).toBeLessThanOrEqual(1e-4 * count(mask) * mm * mm);
    }
    expect(parseCsv(fs.readFileSync(path.join(out, 'videos.csv'), 'utf8'))).toHaveLength(2);
  });

  it('checks the command line before anything else: missing --out, conflicting or stray options, exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['predict', '--package', packageDir, '--input', pngDir], /required option '--out <dir>'/],
      [['predict', '--package', packageDir, '--run', 'x', '--input', pngDir, '--out', scratch], /--run and --package conflict/],
      [['predict', '--input', pngDir, '--out', scratch], /give the model/],
      [['predict', '--package', packageDir, '--input', pngDir, '--dataset', 'ds-x', '--out', scratch], /--input and --dataset conflict/],
      [['predict', '--package', packageDir, '--input', pngDir, '--out', scratch, '--local', '--workflow'], /--local and --workflow conflict/],
      [['predict', '--package', packageDir, '--input', pngDir, '--out', scratch, '--samples', '5'], /--samples applies with --uncertainty/],
      [['predict', '--package', scratch, '--input', pngDir, '--out', scratch], /is not a model package/],
      [['predict', '--package', packageDir, '--input', path.join(scratch, 'nowhere'), '--out', scratch], /is not a folder/],
      [['export', 'some-run'], /required option '--out <dir>'/],
    ];
    // Three CLI processes at a time: each mostly waits on its own start-up.
    const runs: Awaited<ReturnType<typeof cli>>[] = [];
    for (let i = 0; i < cases.length; i += 3) runs.push(...await Promise.all(cases.slice(i, i + 3).map(([args]) => cli(args, offline, 60_000))));
    expectUsageRefusals(cases, runs);
  });
});
