/**
 * `exportOnnx` parity: every architecture (and a few extra arch × encoder rows, together covering every encoder
 * family) at tiny size, with random weights and random BatchNorm statistics, exported and run in ONNX Runtime: the
 * probabilities equal tfjs' within 1e-4 and the thresholded masks are identical. A layer class without an ONNX mapping
 * is refused with its name.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeModel, exportOnnx, exportOnnxMcPrefix, mcPrefixOutputNames, ONNX_OPSET } from '../../export/onnx';
import { packageMetadata, writeModelPackage, writeOnnxPackage } from '../../export/package';
import { initBackend } from '../../ml/backend';
import { loadStoredModel } from '../../ml/predict';
import type { ArchName, ModelConfig } from '../../ml/types';
import { buildModel, listArchitectures } from '../../ml/zoo';
import { MemoryBlobStore } from '../../store/blobStore';
import { MODEL_SIZE, storeTinyModel } from '../predict/helpers';

const TOLERANCE = 1e-4;
const THRESHOLD = 0.5;
const VARIANCE_FLOOR = 0.1;

interface Row {
  arch: ArchName;
  encoder: string;
  /** Input height and width (PAN needs multiples of 128 at depth 5). */
  size: number;
  classes?: number;
  dropout?: ModelConfig['dropout'];
}

/** One row per architecture, then extra rows so that every encoder family and layer converter is run. */
const ROWS: Row[] = [
  { arch: 'Unet', encoder: 'resnet18', size: 64 },
  { arch: 'UnetPlusPlus', encoder: 'timm-resnest14d', size: 64 },
  { arch: 'Linknet', encoder: 'se_resnet50', size: 64 },
  { arch: 'FPN', encoder: 'timm-regnety_002', size: 64 },
  { arch: 'PSPNet', encoder: 'densenet121', size: 64 },
  { arch: 'PAN', encoder: 'efficientnet-b0', size: 128 },
  { arch: 'DeepLabV3', encoder: 'timm-skresnet18', size: 64 },
  { arch: 'DeepLabV3Plus', encoder: 'mobilenet_v2', size: 64 },
  { arch: 'MAnet', encoder: 'dpn68', size: 64, dropout: { strategy: 'decoder', rate: 0.2 } },
  { arch: 'Unet', encoder: 'vgg11_bn', size: 64, classes: 3 },
  { arch: 'FPN', encoder: 'resnext50_32x4d', size: 64 },
  { arch: 'Linknet', encoder: 'timm-mobilenetv3_large_075', size: 64 },
  { arch: 'DeepLabV3', encoder: 'timm-regnetx_002', size: 64, dropout: { strategy: 'head', rate: 0.3 } },
  { arch: 'UnetPlusPlus', encoder: 'timm-skresnext50_32x4d', size: 64 },
];

beforeAll(async () => {
  await initBackend();
});

/** Sets numeric properties of layers for the duration of `run` (a calibration pass), then restores them. */
function withLayerSettings(layers: tf.layers.Layer[], key: 'momentum' | 'rate', value: number, run: () => void): void {
  const targets = layers.filter((l) => typeof (l as unknown as Record<string, unknown>)[key] === 'number') as unknown as Record<string, number>[];
  const saved = targets.map((t) => t[key]);
  for (const t of targets) t[key] = value;
  try {
    run();
  } finally {
    targets.forEach((t, i) => {
      t[key] = saved[i];
    });
  }
}

/**
 * Non-trivial BatchNorm parameters and moving statistics (fresh layers have mean 0, variance 1, γ 1, β 0, which would
 * leave the normalisation untested and let deep random networks saturate or die): random γ and β, then the moving
 * statistics of one training-mode pass over another random batch, taken whole (momentum 0, dropout off for that
 * pass), so that every layer's activations stay of order one and the probabilities spread over (0, 1). The variances
 * get VARIANCE_FLOOR added: channels that random weights left almost constant would otherwise be scaled up by
 * hundreds, and their float32 rounding with them, which no trained model does.
 */
function calibrateBatchNorm(model: tf.LayersModel, size: number, seed: number): void {
  const norms = model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
  norms.forEach((layer, i) => {
    const values = layer.getWeights().map((w, j) => {
      const short = layer.weights[j].originalName.split('/').pop();
      if (short === 'gamma') return tf.randomUniform(w.shape, 0.5, 1.5, 'float32', seed + 2 * i);
      if (short === 'beta') return tf.randomUniform(w.shape, -0.2, 0.2, 'float32', seed + 2 * i + 1);
      return w.clone();
    });
    layer.setWeights(values);
    tf.dispose(values);
  });
  withLayerSettings(norms, 'momentum', 0, () => withLayerSettings(model.layers, 'rate', 0, () => tf.tidy(() => {
    model.apply(tf.randomUniform([4, size, size, 1], 0, 1, 'float32', seed - 1), { training: true });
  })));
  for (const layer of norms) {
    const values = layer.getWeights().map((w, j) => (layer.weights[j].originalName.endsWith('moving_variance') ? w.add(VARIANCE_FLOOR) : w.clone()));
    layer.setWeights(values);
    tf.dispose(values);
  }
}

function metadataFor(config: ModelConfig) {
  return packageMetadata(config, { modelKey: `test/${config.arch}-${config.encoder}` }, undefined);
}

/**
 * Shifts the head's bias so that tfjs' mean logit is 0 (one class): the masks then split the image instead of being
 * all foreground or all background, so comparing them tests something. (The mean, not the median: where a region's
 * features are all zero, many pixels share one logit, which the median would put on the threshold.)
 */
function centreHead(model: tf.LayersModel, x: tf.Tensor): void {
  const meanLogit = tf.tidy(() => {
    const p = (model.predict(x) as tf.Tensor).clipByValue(1e-6, 1 - 1e-6);
    return p.div(tf.sub(1, p)).log().mean().dataSync()[0];
  });
  const head = model.getLayer('decoder_head_conv');
  const [kernel, bias] = head.getWeights();
  const shifted = bias.sub(meanLogit);
  head.setWeights([kernel, shifted]);
  shifted.dispose();
}

/**
 * Pixels whose masks differ, leaving out those where tfjs' own decision is within the tolerance (p within 1e-4 of
 * the threshold, or the top two classes within 1e-4): there float rounding decides either way.
 */
function maskDisagreements(expected: Float32Array, actual: Float32Array, classes: number): { differ: number; undecided: number } {
  let differ = 0;
  let undecided = 0;
  for (let i = 0; i < expected.length; i += classes) {
    const pixel = (probs: Float32Array) => Array.from(probs.subarray(i, i + classes));
    const [e, a] = [pixel(expected), pixel(actual)];
    let decided: boolean;
    let same: boolean;
    if (classes === 1) {
      decided = Math.abs(e[0] - THRESHOLD) > TOLERANCE;
      same = (e[0] > THRESHOLD) === (a[0] > THRESHOLD);
    } else {
      const ranked = [...e].sort((u, v) => v - u);
      decided = ranked[0] - ranked[1] > TOLERANCE;
      same = e.indexOf(Math.max(...e)) === a.indexOf(Math.max(...a));
    }
    if (!decided) undecided++;
    else if (!same) differ++;
  }
  return { differ, undecided };
}

const maxDiffs: string[] = [];
afterAll(() => {
  console.log(`ONNX Runtime vs tfjs, max |Δp|:\n${maxDiffs.join('\n')}`);
});

describe('exportOnnx → onnxruntime-node', () => {
  it('the rows cover every architecture', () => {
    expect(new Set(ROWS.map((r) => r.arch))).toEqual(new Set(listArchitectures()));
  });

  it.each(ROWS)('$arch + $encoder at $size²: probabilities within 1e-4, identical masks where tfjs decides', async ({ arch, encoder, size, classes = 1, dropout }) => {
    const net = buildModel({
      arch, encoder, inputShape: [size, size, 1], classes, dropout: dropout ?? { strategy: 'none', rate: 0 }, widthScale: 0.125, seed: 11,
    });
    try {
      calibrateBatchNorm(net.model, size, 100);
      const batch = 2;
      const x = tf.randomUniform([batch, size, size, 1], 0, 1, 'float32', 5);
      if (classes === 1) centreHead(net.model, x);
      const bytes = exportOnnx(net.model, net.config, metadataFor(net.config));
      const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 2 });
      const expected = (net.model.predict(x) as tf.Tensor).dataSync() as Float32Array;
      const result = await session.run({ input: new ort.Tensor('float32', x.dataSync() as Float32Array, [batch, size, size, 1]) });
      x.dispose();
      await session.release();
      expect(result.output.dims).toEqual([batch, size, size, classes]);
      const actual = result.output.data as Float32Array;
      let maxDiff = 0;
      for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual[i]));
      const { differ, undecided } = maskDisagreements(expected, actual, classes);
      maxDiffs.push(`  ${arch} + ${encoder}: ${maxDiff.toExponential(2)}; ${undecided} of ${expected.length / classes} pixels within 1e-4 of the decision`);
      // Not a collapsed or saturated network, whose outputs would agree trivially.
      expect(Math.max(...expected) - Math.min(...expected)).toBeGreaterThan(0.05);
      expect(maxDiff).toBeLessThan(TOLERANCE);
      expect(differ).toBe(0);
    } finally {
      net.model.dispose();
    }
  });

  it('records the opset and the package metadata in the file', () => {
    const net = buildModel({ arch: 'Unet', encoder: 'resnet18', inputShape: [32, 32, 1], classes: 1, dropout: { strategy: 'none', rate: 0 }, widthScale: 0.125 });
    try {
      const model = decodeModel(exportOnnx(net.model, net.config, metadataFor(net.config)));
      expect(model.opset_import).toEqual([{ domain: '', version: ONNX_OPSET }]);
      const props = Object.fromEntries(model.metadata_props.map((p) => [p.key, p.value]));
      expect(props).toMatchObject({ architecture: 'Unet', encoder: 'resnet18', input_height: '32', input_width: '32', input_channels: '1', activation: 'sigmoid', threshold: '0.5' });
      expect(JSON.parse(props['echo-al.metadata']).config).toEqual(net.config);
      const dims = (v: (typeof model.graph.input)[number]) => v.type.tensor_type.shape.dim;
      expect(dims(model.graph.input[0])).toEqual([{ dim_param: 'batch' }, { dim_value: 32 }, { dim_value: 32 }, { dim_value: 1 }]);
      expect(dims(model.graph.output[0])).toEqual([{ dim_param: 'batch' }, { dim_value: 32 }, { dim_value: 32 }, { dim_value: 1 }]);
    } finally {
      net.model.dispose();
    }
  });

  it('refuses a layer class it cannot express, naming the layer and its class', () => {
    const input = tf.input({ shape: [8, 8, 2] });
    const output = tf.layers.layerNormalization({ name: 'odd_norm' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: output });
    const config = { arch: 'Unet', encoder: 'resnet18', encoderDepth: 3, inputShape: [8, 8, 2], classes: 1, dropout: { strategy: 'none', rate: 0 } } as ModelConfig;
    expect(() => exportOnnx(model, config, metadataFor(config))).toThrow(/layer 'odd_norm' of class LayerNormalization has no ONNX mapping/);
    model.dispose();
  });
});

describe('exportOnnxMcPrefix → onnxruntime-node (the MC prefix of predict --engine onnx --uncertainty)', () => {
  const perArch = ROWS.filter((row, i) => ROWS.findIndex((r) => r.arch === row.arch) === i);

  it.each(perArch)('$arch + $encoder with decoder dropout: every prefix output within 1e-4 (relative to its scale)', async ({ arch, encoder, size }) => {
    const net = buildModel({ arch, encoder, inputShape: [size, size, 1], classes: 1, dropout: { strategy: 'decoder', rate: 0.2 }, widthScale: 0.125, seed: 11 });
    try {
      calibrateBatchNorm(net.model, size, 100);
      const { prefix } = net.mcSplit();
      const x = tf.randomUniform([2, size, size, 1], 0, 1, 'float32', 5);
      const session = await ort.InferenceSession.create(exportOnnxMcPrefix(prefix, net.config, metadataFor(net.config)), { intraOpNumThreads: 2 });
      const expected = tf.tidy(() => {
        const out = prefix.predict(x);
        return (Array.isArray(out) ? out : [out]).map((t) => ({ shape: t.shape, values: t.dataSync() as Float32Array }));
      });
      const result = await session.run({ input: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape) });
      x.dispose();
      await session.release();
      const names = mcPrefixOutputNames(expected.length);
      expect(Object.keys(result).sort()).toEqual([...names].sort());
      expected.forEach(({ shape, values }, i) => {
        const actual = result[names[i]];
        expect(actual.dims).toEqual(shape);
        const data = actual.data as Float32Array;
        let scale = 1;
        let maxDiff = 0;
        for (let j = 0; j < values.length; j++) {
          scale = Math.max(scale, Math.abs(values[j]));
          maxDiff = Math.max(maxDiff, Math.abs(values[j] - data[j]));
        }
        expect(maxDiff / scale, `${names[i]} of ${expected.length}`).toBeLessThan(TOLERANCE);
      });
    } finally {
      net.model.dispose();
    }
  });
});

describe('writeOnnxPackage (export --format onnx)', () => {
  it('writes model.onnx and metadata.json from a stored model, replacing an earlier tfjs package, and ONNX Runtime gives its probabilities', async () => {
    const store = new MemoryBlobStore();
    await storeTinyModel(store, 'models/tiny');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-onnx-'));
    try {
      await writeModelPackage(store, { modelKey: 'models/tiny' }, dir);
      const { metadata, files } = await writeOnnxPackage(store, { modelKey: 'models/tiny', runId: 'run-1' }, dir);
      expect(fs.readdirSync(dir).sort()).toEqual(['metadata.json', 'model.onnx']);
      expect(files).toEqual([path.join(dir, 'model.onnx'), path.join(dir, 'metadata.json')]);
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'metadata.json'), 'utf8'))).toEqual(metadata);
      expect(metadata.source.runId).toBe('run-1');

      const net = await loadStoredModel(store, 'models/tiny');
      const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'));
      const x = tf.randomUniform([3, MODEL_SIZE, MODEL_SIZE, 1], 0, 1, 'float32', 9);
      const expected = (net.model.predict(x) as tf.Tensor).dataSync();
      const result = await session.run({ input: new ort.Tensor('float32', x.dataSync() as Float32Array, [3, MODEL_SIZE, MODEL_SIZE, 1]) });
      const actual = result.output.data as Float32Array;
      x.dispose();
      net.model.dispose();
      await session.release();
      expect(Math.max(...Array.from(expected, (e, i) => Math.abs(e - actual[i])))).toBeLessThan(TOLERANCE);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
