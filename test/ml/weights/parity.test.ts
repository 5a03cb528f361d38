/**
 * Weight import against segmentation_models_pytorch 0.6 on committed fixtures (test/fixtures/weights/, written by
 * `npx tsx scripts/parity-smp.ts --fixtures`; no PyTorch needed here): smp `save_pretrained` directories with F16
 * weights, an input and smp's eval-mode logits. Also: a timm-style encoder-only file, and mismatches refused with
 * every offending tensor named before anything is written.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../ml/backend';
import { loadTorchWeights, planTorchWeights, WeightsMismatchError } from '../../../ml/weights/load';
import { encodeSafetensors, SafetensorsFile } from '../../../ml/weights/safetensors';
import { buildModel } from '../../../ml/zoo';
import { type ParityConfig, parityOf } from '../../../scripts/parity-smp';

const fixtures = new URL('../../fixtures/weights/', import.meta.url).pathname;
const configs = JSON.parse(fs.readFileSync(path.join(fixtures, 'configs.json'), 'utf8')) as ParityConfig[];
const byId = (id: string) => configs.find((c) => c.id === id)!;

beforeAll(async () => {
  await initBackend(undefined, () => {});
});

function build(config: ParityConfig, widthScale = 1) {
  return buildModel({
    arch: config.arch, encoder: config.encoder, encoderDepth: config.depth, inputShape: [config.size, config.size, config.grey ? 1 : 3],
    classes: 1, dropout: { strategy: 'none', rate: 0 }, widthScale, seed: 3,
  });
}

const snapshot = (net: ReturnType<typeof build>) => net.model.weights.map((w) => Array.from(w.read().dataSync()));

describe('weights from segmentation_models_pytorch 0.6', () => {
  it('the fixtures stay small', () => {
    const bytes = (dir: string): number => fs.readdirSync(dir, { withFileTypes: true })
      .reduce((sum, e) => sum + (e.isDirectory() ? bytes(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size), 0);
    expect(bytes(fixtures)).toBeLessThan(15 * 1024 ** 2);
  });

  for (const config of configs) {
    it(`${config.id}: zoo logits equal smp's within 1e-4`, () => {
      const { diff } = parityOf(config, path.join(fixtures, config.id));
      expect(diff).toBeLessThanOrEqual(1e-4);
    });
  }

  it('a timm-style encoder-only file (no encoder. prefix, a classifier head) loads the same encoder weights', () => {
    const config = byId('fpn-timm-regnetx_002');
    const dir = path.join(fixtures, config.id);
    const whole = SafetensorsFile.read(path.join(dir, 'model.safetensors'));
    const encoderOnly = whole.names()
      .filter((n) => n.startsWith('encoder.model.') && whole.tensors.get(n)!.dtype !== 'I64')
      .map((n) => ({ name: n.slice('encoder.model.'.length), ...whole.float(n) }));
    encoderOnly.push({ name: 'head.fc.weight', shape: [2, 3], data: new Float32Array(6) });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'timm-'));
    const file = path.join(tmp, 'regnetx_002.safetensors');
    fs.writeFileSync(file, encodeSafetensors(encoderOnly));
    const fromWhole = build(config);
    const fromEncoder = build(config);
    try {
      loadTorchWeights(fromWhole.model, fromWhole.config, dir, 'model');
      const origin = loadTorchWeights(fromEncoder.model, fromEncoder.config, file, 'encoder');
      expect(origin).toMatchObject({ source: 'regnetx_002.safetensors', scope: 'encoder' });
      expect(origin.sha256).toMatch(/^[0-9a-f]{64}$/);
      const planned = planTorchWeights(fromEncoder.model, fromEncoder.config, file, 'encoder');
      expect(planned.plan.skipped.map((s) => s.name)).toContain('head.fc.weight');
      const encoderWeights = (net: typeof fromWhole) => net.model.weights.filter((w) => w.originalName.startsWith('encoder_'));
      const a = encoderWeights(fromWhole);
      const b = encoderWeights(fromEncoder);
      expect(a.length).toBeGreaterThan(100);
      a.forEach((w, i) => expect(Array.from(b[i].read().dataSync())).toEqual(Array.from(w.read().dataSync())));
    } finally {
      fromWhole.model.dispose();
      fromEncoder.model.dispose();
      fs.rmSync(tmp, { recursive: true });
    }
  });

  it('refuses a mismatch before writing anything, naming every offending tensor', () => {
    const config = byId('unet-mobilenet_v2-d3');
    const dir = path.join(fixtures, config.id);
    // smp's config.json names another encoder.
    const other = build({ ...config, encoder: 'resnet18' }, 0.0625);
    expect(() => planTorchWeights(other.model, other.config, dir, 'model')).toThrow(/holds a mobilenet_v2 encoder, the model's is resnet18/);
    other.model.dispose();
    // Another width: every convolution has the wrong shape, and nothing is written.
    const narrow = build(config, 0.5);
    const before = snapshot(narrow);
    let error: WeightsMismatchError | undefined;
    try {
      loadTorchWeights(narrow.model, narrow.config, path.join(dir, 'model.safetensors'), 'model');
    } catch (e) {
      error = e as WeightsMismatchError;
    }
    expect(error).toBeInstanceOf(WeightsMismatchError);
    expect(error!.problems.some((p) => /^wrong shape: encoder\.features\.0\.0\.weight is \[32, 3, 3, 3\], encoder_features0\/kernel needs \[3, 3, 3, 16\]$/.test(p))).toBe(true);
    expect(snapshot(narrow)).toEqual(before);
    narrow.model.dispose();
    // A file lacking one tensor and holding one the model has no place for.
    const whole = SafetensorsFile.read(path.join(dir, 'model.safetensors'));
    const tensors = whole.names().filter((n) => whole.tensors.get(n)!.dtype !== 'I64' && n !== 'decoder.blocks.0.conv1.0.weight')
      .map((n) => ({ name: n, ...whole.float(n) }));
    tensors.push({ name: 'decoder.blocks.9.conv1.0.weight', shape: [1], data: new Float32Array(1) });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bad-'));
    fs.writeFileSync(path.join(tmp, 'bad.safetensors'), encodeSafetensors(tensors));
    const net = build(config);
    expect(() => planTorchWeights(net.model, net.config, path.join(tmp, 'bad.safetensors'), 'model')).toThrow(
      /2 problem\(s\):\n {2}missing: the model's decoder_block0_conv1_conv\/kernel has no tensor in the file\n {2}unexpected: decoder\.blocks\.9\.conv1\.0\.weight has no place in the model/,
    );
    // A truncated file is refused by the reader, with its reason.
    fs.writeFileSync(path.join(tmp, 'cut.safetensors'), fs.readFileSync(path.join(dir, 'model.safetensors')).subarray(0, 5000));
    expect(() => planTorchWeights(net.model, net.config, path.join(tmp, 'cut.safetensors'), 'model')).toThrow(/truncated/);
    net.model.dispose();
    fs.rmSync(tmp, { recursive: true });
  });
});
