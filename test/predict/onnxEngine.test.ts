/**
 * ONNX Runtime as the prediction engine, and `.onnx` files handed to `predict --package`: the engine converted
 * in-process gives tfjs' probabilities within 1e-4 and the same masks, through `predictBatch` as the CLI and the
 * activity run it, and with `--uncertainty` (MC prefix in ONNX Runtime, tail in tfjs) the seeded scores within 1e-5; a truncated file, a file of another kind, an ONNX model without this project's metadata, one whose
 * input or output shape disagrees with that metadata, and a metadata.json describing another model are refused with
 * a one-line reason (exit 2, nothing written); an ONNX package runs in the CLI process and gives the tfjs package's
 * masks.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineFactory } from '../../activities/predict';
import { DEFAULT_PREDICT_ENGINE, type PredictItem, recordedEngine } from '../../contracts';
import { decodeModel } from '../../export/onnx';
import { encodeModel } from '../../export/onnx/proto';
import { METADATA_PROP, readOnnxModelMetadata } from '../../export/onnx/validate';
import { readModelPackage, writeModelPackage, writeOnnxPackage } from '../../export/package';
import { initBackend } from '../../ml/backend';
import { modelInput } from '../../ml/inference';
import { batchFingerprint, loadPredictionModels, predictBatch, type PredictionModels } from '../../ml/predict';
import { MemoryBlobStore } from '../../store/blobStore';
import { cli, echoFrames, expectUsageRefusals, framePng, MODEL_SIZE, readMask, storeTinyModel } from './helpers';

const TOLERANCE = 1e-4;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-onnx-engine-'));
const tfjsDir = path.join(scratch, 'tfjs-package');
const onnxDir = path.join(scratch, 'onnx-package');
const pngDir = path.join(scratch, 'png');
/** Services nobody listens on: a command that needed them would fail. */
const offline = { TEMPORAL_ADDRESS: '127.0.0.1:9', MINIO_PORT: '9' };
const store = new MemoryBlobStore();

beforeAll(async () => {
  await initBackend(undefined, () => {});
  await storeTinyModel(store, 'models/tiny');
  await writeModelPackage(store, { modelKey: 'models/tiny' }, tfjsDir);
  await writeOnnxPackage(store, { modelKey: 'models/tiny' }, onnxDir);
  fs.mkdirSync(pngDir, { recursive: true });
  for (const f of echoFrames([40, 56], { frames: 3 })) fs.writeFileSync(path.join(pngDir, `${f.id}.png`), await framePng(f));
});

afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('the ONNX Runtime engine (in-process conversion)', () => {
  it('gives tfjs\' probabilities within 1e-4 and the same masks through predictBatch', async () => {
    const frames = echoFrames([40, 56], { frames: 4, seed: 9 });
    const items: PredictItem[] = frames.map((f, i) => ({
      id: f.id, group: 'v', order: i, originalSize: [40, 56], source: { kind: 'file', path: `${f.id}.png`, format: 'png', frame: 1, stamp: '' },
    }));
    const byId = new Map(frames.map((f) => [f.id, { width: f.width, height: f.height, data: Float32Array.from(f.image) }]));
    const source = { load: async (item: PredictItem) => ({ frame: byId.get(item.id)! }) };
    const options = { uncertainty: false, overlay: false, samples: 0, seed: 0 };
    const run = async (models: PredictionModels) => {
      const out = new MemoryBlobStore();
      const { record } = await predictBatch({ batch: 0, items, models, frames: source, out, root: '', options, fingerprint: batchFingerprint({ modelKey: 'm' }, options, 0, items) });
      return { out, record };
    };
    const tfModels = await loadPredictionModels(store, { modelKey: 'models/tiny' }, false);
    const onnxModels = await loadPredictionModels(store, { modelKey: 'models/tiny' }, false, engineFactory('onnx'));
    try {
      expect([tfModels.segmentation.name, onnxModels.segmentation.name]).toEqual(['tf', 'onnx']);
      const inputs = tf.stack(frames.map((f) => modelInput(byId.get(f.id)!, undefined, [MODEL_SIZE, MODEL_SIZE]))) as tf.Tensor4D;
      const [expected, actual] = await Promise.all([tfModels, onnxModels].map((m) => m.segmentation.probabilities(inputs)));
      inputs.dispose();
      expect(actual.shape).toEqual(expected.shape);
      const maxDiff = tf.tidy(() => expected.sub(actual).abs().max().dataSync()[0]);
      const spread = tf.tidy(() => expected.max().sub(expected.min()).dataSync()[0]);
      tf.dispose([expected, actual]);
      expect(spread).toBeGreaterThan(0.5);
      expect(maxDiff).toBeLessThan(TOLERANCE);

      const [viaTf, viaOnnx] = [await run(tfModels), await run(onnxModels)];
      expect(viaOnnx.record.rows.map((r) => r.areaPx)).toEqual(viaTf.record.rows.map((r) => r.areaPx));
      expect(viaTf.record.rows.some((r) => r.areaPx > 0)).toBe(true);
      for (const row of viaTf.record.rows) expect(await viaOnnx.out.getBytes(row.mask)).toEqual(await viaTf.out.getBytes(row.mask));
    } finally {
      tfModels.dispose();
      onnxModels.dispose();
    }
  });
});

describe('recorded requests without an engine', () => {
  it('run on tfjs, and their batches stay complete when the same work comes with `--engine tf` written out', () => {
    expect(DEFAULT_PREDICT_ENGINE).toBe('onnx');
    expect(recordedEngine(undefined)).toBe('tf');
    expect(recordedEngine('onnx')).toBe('onnx');
    const items: PredictItem[] = [{ id: 'a', group: 'v', order: 0, originalSize: [40, 56], source: { kind: 'dataset', datasetId: 'd', itemId: 'a' } }];
    const recorded = { uncertainty: true, overlay: false, samples: 30, seed: 0 };
    const fingerprint = (engine?: 'tf' | 'onnx') => batchFingerprint({ modelKey: 'm' }, { ...recorded, ...(engine ? { engine } : {}) }, 0, items);
    expect(fingerprint('tf')).toBe(fingerprint());
    expect(fingerprint('onnx')).not.toBe(fingerprint());
  });
});

describe('MC dropout with the ONNX engine: the prefix in ONNX Runtime, the tail in tfjs', () => {
  it.each([
    { dropout: 'head (the fallback for a model trained without dropout)', modelKey: 'models/tiny' },
    { dropout: 'decoder (several prefix outputs, split convolutions)', modelKey: 'models/tiny-decoder' },
  ])('gives the same seeded uncertainty scores within 1e-5: $dropout', async ({ modelKey }) => {
    if (modelKey === 'models/tiny-decoder') await storeTinyModel(store, modelKey, { dropout: { strategy: 'decoder', rate: 0.2 } });
    const frames = echoFrames([40, 56], { frames: 3, seed: 21 });
    const items: PredictItem[] = frames.map((f, i) => ({
      id: f.id, group: 'v', order: i, originalSize: [40, 56], source: { kind: 'file', path: `${f.id}.png`, format: 'png', frame: 1, stamp: '' },
    }));
    const byId = new Map(frames.map((f) => [f.id, { width: f.width, height: f.height, data: Float32Array.from(f.image) }]));
    const source = { load: async (item: PredictItem) => ({ frame: byId.get(item.id)! }) };
    const options = { uncertainty: true, overlay: false, samples: 6, seed: 3 };
    const scores = async (models: PredictionModels, batch = 0) => {
      const { record } = await predictBatch({
        batch, items, models, frames: source, out: new MemoryBlobStore(), root: '', options, fingerprint: batchFingerprint({ modelKey: 'm' }, options, batch, items),
      });
      return record.rows.map((r) => r.uncertainty!);
    };
    const tfModels = await loadPredictionModels(store, { modelKey }, true);
    const onnxModels = await loadPredictionModels(store, { modelKey }, true, engineFactory('onnx'));
    try {
      expect(tfModels.uncertaintyPrefix).toBeUndefined();
      const prefix = onnxModels.uncertaintyPrefix!;
      const runPrefix = prefix.run;
      let prefixCalls = 0;
      prefix.run = (images) => {
        prefixCalls += 1;
        return runPrefix(images);
      };
      const [expected, actual] = [await scores(tfModels), await scores(onnxModels)];
      expect(prefixCalls).toBeGreaterThan(0);
      expect(expected.every((v) => v > 1e-3)).toBe(true);
      expect(Math.max(...expected.map((e, i) => Math.abs(e - actual[i])))).toBeLessThan(1e-5);
      // Another seed (batch 1: seed + 1) gives other scores: the comparison above is of seeded samples, not constants.
      expect(await scores(tfModels, 1)).not.toEqual(expected);
    } finally {
      tfModels.dispose();
      onnxModels.dispose();
    }
  });
});

describe('an .onnx file handed in (readModelPackage)', () => {
  const good = () => path.join(onnxDir, 'model.onnx');
  /** A copy of the ONNX package with its model.onnx replaced. */
  const variant = (name: string, bytes: Uint8Array, metadataJson?: string): string => {
    const dir = path.join(scratch, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'model.onnx'), bytes);
    fs.writeFileSync(path.join(dir, 'metadata.json'), metadataJson ?? fs.readFileSync(path.join(onnxDir, 'metadata.json')));
    return dir;
  };
  const edited = (edit: (model: ReturnType<typeof decodeModel>) => void): Uint8Array => {
    const model = decodeModel(fs.readFileSync(good()));
    edit(model);
    return encodeModel(model);
  };

  it('takes the package written by export --format onnx, and the file itself', () => {
    const fromDir = readModelPackage(onnxDir);
    expect(fromDir.kind).toBe('onnx');
    expect(fromDir.metadata.inputShape).toEqual([MODEL_SIZE, MODEL_SIZE, 1]);
    expect(readModelPackage(good()).kind).toBe('onnx');
    expect(readModelPackage(tfjsDir).kind).toBe('tfjs');
  });

  it('refuses truncated, foreign, mismatched and non-ONNX files with the reason', () => {
    const bytes = fs.readFileSync(good());
    const cases: [string, string, RegExp][] = [
      ['truncated', variant('truncated', bytes.subarray(0, Math.floor(bytes.length / 2))), /not a readable ONNX model|not an ONNX model/],
      ['empty', variant('empty', new Uint8Array()), /is empty/],
      ['text', variant('text', new TextEncoder().encode('{"this": "is JSON, not ONNX"}\n')), /not a readable ONNX model|not an ONNX model/],
      ['foreign', variant('foreign', edited((m) => {
        m.metadata_props = m.metadata_props.filter((p) => p.key !== METADATA_PROP);
      })), /was not written by `client.ts export --format onnx`/],
      ['other metadata format', variant('other-format', edited((m) => {
        const prop = m.metadata_props.find((p) => p.key === METADATA_PROP)!;
        prop.value = JSON.stringify({ ...JSON.parse(prop.value), format: 'someone-else' });
      })), /not an echo-al package's metadata \(format 'someone-else'/],
      ['input shape', variant('input-shape', edited((m) => {
        m.graph.input[0].type.tensor_type.shape.dim[1] = { dim_value: MODEL_SIZE * 2 };
      })), /its input is 'input' of type 1 \[batch, 64, 32, 1\], but its metadata says float32 \[batch, 32, 32, 1\]/],
      ['output classes', variant('output-classes', edited((m) => {
        m.graph.output[0].type.tensor_type.shape.dim[3] = { dim_value: 3 };
      })), /its output is .* \[batch, 32, 32, 3\], but its metadata says float32 \[batch, 32, 32, 1\]/],
      ['metadata.json of another model', variant('other-json', bytes, JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(onnxDir, 'metadata.json'), 'utf8')), encoder: 'resnet50' })),
        /describes another model than .* \(encoder: "resnet50" vs "resnet18" in the file\)/],
    ];
    for (const [what, dir, reason] of cases) {
      expect(() => readModelPackage(dir), what).toThrow(reason);
    }
    // The check is the file's own: the same reasons without a metadata.json beside it.
    expect(() => readOnnxModelMetadata(path.join(scratch, 'foreign', 'model.onnx'))).toThrow(/was not written by/);
  });
});

describe('predict --package with ONNX (the CLI, no services)', () => {
  it('runs an ONNX package on ONNX Runtime and the tfjs package on either engine (ONNX Runtime by default): the same masks', async () => {
    const outs = ['tf', 'onnx-package', 'tfjs-package-default'].map((name) => path.join(scratch, `out-${name}`));
    const runs = await Promise.all([
      cli(['predict', '--package', tfjsDir, '--engine', 'tf', '--input', pngDir, '--out', outs[0], '--json'], offline),
      cli(['predict', '--package', onnxDir, '--input', pngDir, '--out', outs[1], '--json'], offline),
      cli(['predict', '--package', tfjsDir, '--input', pngDir, '--out', outs[2], '--json'], offline),
    ]);
    for (const run of runs) expect(run.status, run.err).toBe(0);
    expect(runs.map((r) => (JSON.parse(r.out) as { engine: string }).engine)).toEqual(['tf', 'onnx', 'onnx']);
    const names = fs.readdirSync(path.join(outs[0], 'masks')).sort();
    expect(names).toHaveLength(3);
    for (const name of names) {
      const expected = await readMask(path.join(outs[0], 'masks', name));
      expect(expected.mask.some((v) => v === 1)).toBe(true);
      for (const out of outs.slice(1)) expect((await readMask(path.join(out, 'masks', name))).mask).toEqual(expected.mask);
    }
  });

  it('refuses a bad .onnx and what an ONNX package cannot do: one line, exit 2, nothing written', async () => {
    const truncated = path.join(scratch, 'cli-truncated');
    fs.mkdirSync(truncated, { recursive: true });
    fs.writeFileSync(path.join(truncated, 'model.onnx'), fs.readFileSync(path.join(onnxDir, 'model.onnx')).subarray(0, 1000));
    const out = path.join(scratch, 'out-refused');
    const cases: [string[], RegExp][] = [
      [['--package', truncated], /^error: --package .*model\.onnx is not (a readable )?(an )?ONNX model/],
      [['--package', path.join(pngDir, fs.readdirSync(pngDir)[0])], /not (a readable )?(an )?ONNX model/],
      [['--package', onnxDir, '--uncertainty'], /is an ONNX model: it holds no MC-dropout model/],
      [['--package', onnxDir, '--workflow'], /is an ONNX model: it runs in this process only/],
      [['--package', onnxDir, '--engine', 'tf'], /is an ONNX model: it runs on ONNX Runtime only/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(['predict', ...args, '--input', pngDir, '--out', out], offline, 60_000)));
    expectUsageRefusals(cases, runs);
    expect(fs.existsSync(out)).toBe(false);
  });
});
