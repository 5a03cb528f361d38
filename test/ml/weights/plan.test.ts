/**
 * The name and layout mapping against segmentation_models_pytorch 0.6's real state_dict names and shapes
 * (test/fixtures/weights-names/, dumped from smp): every encoder family plans with no missing, unexpected or
 * wrong-shaped tensor, and so does every architecture's decoder and head; the first convolution of a 1-channel model
 * sums RGB; stages beyond the depth, classifier heads and Unet++'s VGG center are skipped by name.
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../ml/backend';
import type { ArchName } from '../../../ml/types';
import { relayout } from '../../../ml/weights/load';
import { planLoad, planProblems, type SourceTensor } from '../../../ml/weights/plan';
import { buildModel, encoderRegistry, withInitSettings } from '../../../ml/zoo';

const fixture = JSON.parse(fs.readFileSync(new URL('../../fixtures/weights-names/smp-0.6.0-state-dicts.json', import.meta.url), 'utf8')) as {
  entries: Record<string, [string, number[]][]>;
};
const sources = (key: string): SourceTensor[] => fixture.entries[key].map(([name, shape]) => ({ name, shape }));

beforeAll(async () => {
  await initBackend(undefined, () => {});
});

function targets(arch: ArchName, encoder: string, channels = 3, depth = 5) {
  return withInitSettings({ mode: 'zeros' }, () => {
    const net = buildModel({ arch, encoder, encoderDepth: depth, inputShape: [128, 128, channels], classes: 1, dropout: { strategy: 'none', rate: 0 }, widthScale: 1 });
    const list = net.model.weights.map((w) => ({ name: w.originalName, shape: w.shape as number[] }));
    net.model.dispose();
    return list;
  });
}

describe('PyTorch (smp 0.6) names → zoo variables', () => {
  const encoderKeys = Object.keys(fixture.entries).filter((k) => k.endsWith('|encoder'));
  it('covers every encoder family of the zoo', () => {
    const families = new Set(Object.values(encoderRegistry).map((s) => s.family));
    const covered = new Set(encoderKeys.map((k) => encoderRegistry[k.split('|')[1]].family));
    expect([...families].filter((f) => !covered.has(f))).toEqual([]);
  });

  for (const key of encoderKeys) {
    const encoder = key.split('|')[1];
    it(`${encoder}: every encoder tensor has its place, and every encoder variable a tensor`, () => {
      const zoo = targets('Unet', encoder);
      const plan = planLoad(sources(key), zoo, { encoderFamily: encoderRegistry[encoder].family, scope: 'encoder' });
      expect(planProblems(plan)).toEqual([]);
      expect(plan.assignments.length).toBe(zoo.filter((t) => t.name.startsWith('encoder_')).length);
      expect(plan.assignments.filter((a) => a.transform === 'oihw').length).toBeGreaterThan(0);
    });
  }

  for (const key of Object.keys(fixture.entries).filter((k) => k.endsWith('|model'))) {
    const [arch, encoder] = key.split('|') as [ArchName, string];
    it(`${arch} + ${encoder}: a whole smp model fills every variable`, () => {
      const zoo = targets(arch, encoder);
      const plan = planLoad([...sources(`Unet|${encoder}|encoder`), ...sources(key)], zoo, { encoderFamily: encoderRegistry[encoder].family, scope: 'model', arch });
      expect(planProblems(plan)).toEqual([]);
      expect(plan.assignments.length).toBe(zoo.length);
      if (arch === 'UnetPlusPlus' && encoder === 'vgg11_bn') {
        expect(plan.skipped.filter((s) => /center block/.test(s.reason)).map((s) => s.name)).toContain('decoder.center.0.0.weight');
      }
    });
  }

  it('a 1-channel model sums the first convolution over RGB; deeper stages and heads are skipped by name', () => {
    const zoo = targets('Unet', 'resnet18', 1, 3);
    const fullDepth = withInitSettings({ mode: 'zeros' }, () => {
      const input = tf.input({ shape: [32, 32, 1] });
      const model = tf.model({ inputs: input, outputs: encoderRegistry.resnet18.build({ input, inChannels: 1, depth: 5, widthScale: 0.0625, outputStride: 32, name: 'encoder' }) });
      const names = new Set(model.layers.map((l) => l.name));
      model.dispose();
      return names;
    });
    const timmStyle = sources('Unet|resnet18|encoder').map((s) => ({ ...s, name: s.name.replace(/^encoder\./, '') }));
    timmStyle.push({ name: 'fc.weight', shape: [1000, 512] }, { name: 'fc.bias', shape: [1000] });
    const plan = planLoad(timmStyle, zoo, { encoderFamily: 'ResNet', scope: 'encoder', fullDepthLayers: fullDepth });
    expect(planProblems(plan)).toEqual([]);
    expect(plan.assignments.find((a) => a.source === 'conv1.weight')).toEqual({ source: 'conv1.weight', target: 'encoder_conv1_conv/kernel', transform: 'oihwSumRgb' });
    const reasons = new Map(plan.skipped.map((s) => [s.name, s.reason]));
    expect(reasons.get('layer4.1.conv2.weight')).toMatch(/beyond the model's depth/);
    expect(reasons.get('fc.weight')).toMatch(/classifier/);
    expect(reasons.get('bn1.num_batches_tracked')).toMatch(/counter/);
  });

  it('re-lays OIHW as HWIO, sums RGB, and transposes linear weights', () => {
    // [O=2, I=3, H=1, W=2]
    const oihw = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(Array.from(relayout(oihw, [2, 3, 1, 2], 'oihw'))).toEqual([1, 7, 3, 9, 5, 11, 2, 8, 4, 10, 6, 12]);
    expect(Array.from(relayout(oihw, [2, 3, 1, 2], 'oihwSumRgb'))).toEqual([1 + 3 + 5, 7 + 9 + 11, 2 + 4 + 6, 8 + 10 + 12]);
    expect(Array.from(relayout(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3], 'linear'))).toEqual([1, 4, 2, 5, 3, 6]);
  });
});
