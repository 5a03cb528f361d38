/**
 * The zoo against segmentation_models_pytorch 0.6.0's own counts (test/fixtures/zoo/smp-0.6.0-param-counts.json,
 * read from smp by smp_param_counts.py beside it). smp's figure is `sum(p.numel())` over its module, which also
 * holds modules its forward never runs; the zoo builds what the forward computes. Every difference must be one of
 * those, exactly:
 * - encoder stages beyond the depth: smp's own encoders and timm's MobileNetV3 features keep all five (smp builds
 *   timm-regnet and timm-resnest through timm's features_only, which drops them);
 * - EfficientNet's `_conv_head` + `_bn1`;
 * - UnetPlusPlus's center block for VGG encoders.
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import type { ArchName } from '../../ml/types';
import { countTrainableParams, encoderRegistry, listArchitectures, listModels, withInitSettings, type ModelListing } from '../../ml/zoo';
import { smpUnusedCenterParams } from '../../ml/zoo/archs/unetplusplus';
import { efficientNetUnusedHeadParams } from '../../ml/zoo/encoders/efficientnet';

const smp = JSON.parse(fs.readFileSync(new URL('../fixtures/zoo/smp-0.6.0-param-counts.json', import.meta.url), 'utf8')) as {
  smp: string;
  depth5: Record<string, number | string>;
  defaultDepth: Record<string, number | string>;
};

/** One or more per family, and every encoder a difference above applies to. */
const ENCODERS = [
  'resnet34', 'se_resnext50_32x4d', 'timm-skresnet18', 'timm-skresnet34', 'timm-skresnext50_32x4d', 'timm-resnest14d',
  'densenet121', 'efficientnet-b0', 'dpn68', 'timm-regnetx_002', 'timm-regnety_002', 'vgg11_bn', 'vgg16_bn',
  'mobilenet_v2', 'timm-mobilenetv3_small_100',
];

beforeAll(async () => {
  await initBackend(undefined, () => {});
});

function encoderParams(encoder: string, depth: number): number {
  return withInitSettings({ mode: 'zeros' }, () => {
    const input = tf.input({ shape: [128, 128, 3] });
    const features = encoderRegistry[encoder].build({ input, inChannels: 3, depth, widthScale: 1, outputStride: 32, name: 'encoder' });
    const model = tf.model({ inputs: input, outputs: features });
    const count = countTrainableParams(model);
    model.dispose();
    return count;
  });
}

const throughTimm = (encoder: string) => /^timm-(regnet|resnest)/.test(encoder);

/** smp's figure for a row of the zoo: its count plus every module smp holds without running it. */
function smpFigure(row: ModelListing, depth: number): number {
  let held = row.params + (efficientNetUnusedHeadParams[row.encoder] ?? 0);
  if (depth < 5 && !throughTimm(row.encoder)) held += encoderParams(row.encoder, 5) - encoderParams(row.encoder, depth);
  if (row.arch === 'UnetPlusPlus' && row.encoder.startsWith('vgg')) held += smpUnusedCenterParams(encoderRegistry[row.encoder].outChannels[depth]);
  return held;
}

describe(`parameter counts against segmentation_models_pytorch ${smp.smp}`, () => {
  it('the fixture covers every architecture × encoder of the zoo', () => {
    const keys = listArchitectures().flatMap((a) => Object.keys(encoderRegistry).map((e) => `${a}|${e}`)).sort();
    expect(Object.keys(smp.depth5).sort()).toEqual(keys);
    expect(Object.keys(smp.defaultDepth).sort()).toEqual(keys);
  });

  for (const [label, table, encoderDepth] of [['depth 5', 'depth5', 5], ["each architecture's default depth", 'defaultDepth', undefined]] as const) {
    it(`${label}: equal to smp's figures up to the modules smp holds but never runs`, () => {
      const rows = listModels([128, 128, 3], 1, { encoders: ENCODERS, encoderDepth });
      expect(rows).toHaveLength(ENCODERS.length * listArchitectures().length);
      for (const row of rows) {
        const expected = smp[table][`${row.arch}|${row.encoder}`];
        const depth = encoderDepth ?? (row.arch === 'PSPNet' ? 3 : 5);
        const actual = Number.isNaN(row.params) ? 'error' : smpFigure(row, depth);
        expect({ row: `${row.arch}|${row.encoder}`, count: actual }).toEqual({
          row: `${row.arch}|${row.encoder}`, count: typeof expected === 'string' ? 'error' : expected,
        });
      }
    });
  }

  it('rows without any held-but-unused module equal smp exactly (e.g. the paper models and every SK encoder)', () => {
    const exact: [ArchName, string][] = [
      ['PAN', 'timm-regnety_120'], ['DeepLabV3', 'dpn98'], ['Linknet', 'timm-skresnet34'], ['FPN', 'timm-skresnet18'],
      ['Unet', 'timm-skresnext50_32x4d'], ['Unet', 'vgg16_bn'], ['PSPNet', 'timm-resnest14d'],
    ];
    for (const [arch, encoder] of exact) {
      const [row] = listModels([128, 128, 3], 1, { archs: [arch], encoders: [encoder] });
      const table = arch === 'PSPNet' ? smp.defaultDepth : smp.depth5;
      expect({ arch, encoder, params: row.params }).toEqual({ arch, encoder, params: table[`${arch}|${encoder}`] });
    }
  });
});
