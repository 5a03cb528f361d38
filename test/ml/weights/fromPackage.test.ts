/**
 * Weights from a model this project trained (an `export` package: tfjs `model.json` + `weights.bin`): its encoder
 * fills another model's encoder by name (decoder tensors skipped), a whole model fills a model of the same structure,
 * and a package that does not fit, or whose weights file is cut short, is refused before anything is written.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../ml/backend';
import type { ModelConfig } from '../../../ml/types';
import { loadTorchWeights, planTorchWeights, WeightsMismatchError } from '../../../ml/weights/load';
import { buildModel, type SegmentationNet } from '../../../ml/zoo';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weights-package-'));

beforeAll(async () => {
  await initBackend(undefined, () => {});
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function tiny(arch: ModelConfig['arch'], seed: number, widthScale = 0.125): SegmentationNet {
  return buildModel({ arch, encoder: 'resnet18', encoderDepth: 3, inputShape: [32, 32, 1], classes: 1, dropout: { strategy: 'none', rate: 0 }, widthScale, seed });
}

/** Saves a model as tfjs writes it (what `export` packages), with non-trivial batch-norm statistics. */
async function savePackage(net: SegmentationNet, name: string): Promise<string> {
  for (const w of net.model.weights) {
    if (/moving_(mean|variance)$/.test(w.originalName)) w.write(tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', 7));
  }
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  await net.model.save(tf.io.withSaveHandler(async (artifacts) => {
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(artifacts.weightData as ArrayBuffer));
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }] }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return dir;
}

const values = (net: SegmentationNet, name: string) => net.model.weights.find((w) => w.originalName === name)!.read().dataSync();

describe('weights from an exported package', () => {
  it('fills the encoder of a model of another architecture, leaving its decoder as built', async () => {
    const source = tiny('Unet', 1);
    const dir = await savePackage(source, 'unet');
    const target = tiny('FPN', 2);
    const decoderBefore = values(target, target.model.weights.find((w) => w.originalName.startsWith('decoder_'))!.originalName);
    const origin = loadTorchWeights(target.model, target.config, dir, 'encoder');
    expect(origin.source).toBe('unet');
    expect(origin.loaded).toBe(target.model.weights.filter((w) => w.originalName.startsWith('encoder_')).length);
    expect(origin.skipped).toBe(source.model.weights.filter((w) => !w.originalName.startsWith('encoder_')).length);
    for (const w of target.model.weights.filter((v) => v.originalName.startsWith('encoder_'))) {
      expect(Array.from(values(target, w.originalName))).toEqual(Array.from(values(source, w.originalName)));
    }
    const firstDecoder = target.model.weights.find((w) => w.originalName.startsWith('decoder_'))!.originalName;
    expect(Array.from(values(target, firstDecoder))).toEqual(Array.from(decoderBefore));
    const input = tf.randomUniform([1, 32, 32, 1], 0, 1, 'float32', 3);
    const encoderOut = (net: SegmentationNet) => tf.model({ inputs: net.model.inputs, outputs: net.model.getLayer('encoder_layer2_1_conv2_bn').output as tf.SymbolicTensor });
    const a = encoderOut(source).predict(input) as tf.Tensor;
    const b = encoderOut(target).predict(input) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
    source.model.dispose();
    target.model.dispose();
  });

  it('fills a whole model of the same structure: equal outputs', async () => {
    const source = tiny('Unet', 3);
    const dir = await savePackage(source, 'whole');
    const target = tiny('Unet', 4);
    loadTorchWeights(target.model, target.config, dir, 'model');
    const input = tf.randomUniform([2, 32, 32, 1], 0, 1, 'float32', 5);
    const diff = tf.max(tf.abs(tf.sub(source.model.predict(input) as tf.Tensor, target.model.predict(input) as tf.Tensor))).dataSync()[0];
    expect(diff).toBe(0);
    source.model.dispose();
    target.model.dispose();
  });

  it('refuses a package of another width, naming the tensors, and writes nothing', async () => {
    const source = tiny('Unet', 5, 0.25);
    const dir = await savePackage(source, 'wide');
    const target = tiny('Unet', 6);
    const before = Array.from(values(target, 'encoder_conv1_conv/kernel'));
    const error = (() => {
      try {
        planTorchWeights(target.model, target.config, dir, 'encoder');
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(WeightsMismatchError);
    expect((error as WeightsMismatchError).message).toMatch(/wrong shape: encoder_conv1_conv\/kernel is \[7, 7, 1, 16\], encoder_conv1_conv\/kernel needs \[7, 7, 1, 8\]/);
    expect(Array.from(values(target, 'encoder_conv1_conv/kernel'))).toEqual(before);
    source.model.dispose();
    target.model.dispose();
  });

  it('refuses a package whose weights file is cut short', async () => {
    const source = tiny('Unet', 7);
    const dir = await savePackage(source, 'cut');
    const file = path.join(dir, 'weights.bin');
    fs.truncateSync(file, fs.statSync(file).size - 4);
    const target = tiny('Unet', 8);
    expect(() => planTorchWeights(target.model, target.config, dir, 'encoder')).toThrow(/truncated or not this model's/);
    source.model.dispose();
    target.model.dispose();
  });
});
