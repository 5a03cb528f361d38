import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import { MCDropout, setMCDropoutSeed, setMCMode } from '../../ml/layers/mcDropout';
import type { ArchName, ModelConfig } from '../../ml/types';
import { AdaptiveAvgPool2d, TorchConv2d } from '../../ml/layers';
import { resnetEncoders } from '../../ml/zoo/encoders/resnet';
import { smpUnusedCenterParams } from '../../ml/zoo/archs/unetplusplus';
import { seededSplitDiffs } from './helpers/mcNets';
import {
  buildModel, countTrainableParams, defaultEncoderDepth, listArchitectures, listEncoders, listModels, saveEncoderWeights, withInitSettings,
  type ModelConfigInput, type SegmentationNet,
} from '../../ml/zoo';

beforeAll(async () => {
  await initBackend();
});

const ARCHS: ArchName[] = ['Unet', 'UnetPlusPlus', 'Linknet', 'FPN', 'PSPNet', 'PAN', 'DeepLabV3', 'DeepLabV3Plus', 'MAnet'];

function config(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    arch: 'Unet',
    encoder: 'resnet18',
    encoderDepth: 5,
    inputShape: [64, 64, 3],
    classes: 1,
    dropout: { strategy: 'none', rate: 0 },
    widthScale: 0.125,
    seed: 7,
    ...overrides,
  };
}

function randomBatch(shape: [number, number, number], classes: number, n = 2): { x: tf.Tensor4D; y: tf.Tensor4D } {
  const [h, w, c] = shape;
  const x = tf.randomUniform([n, h, w, c], 0, 1, 'float32', 3) as tf.Tensor4D;
  const labels = tf.randomUniform([n, h, w], 0, classes === 1 ? 2 : classes, 'int32', 4);
  const y = (classes === 1 ? labels.expandDims(-1).cast('float32') : tf.oneHot(labels, classes).cast('float32')) as tf.Tensor4D;
  labels.dispose();
  return { x, y };
}

/** Builds, checks the output shape and value range, trains one step, and checks the loss and an update. */
async function buildAndTrain(cfg: ModelConfig): Promise<void> {
  const net = buildModel(cfg);
  try {
    const { x, y } = randomBatch(cfg.inputShape, cfg.classes);
    const before = net.model.predict(x) as tf.Tensor;
    expect(before.shape).toEqual([2, cfg.inputShape[0], cfg.inputShape[1], cfg.classes]);
    const values = await before.data();
    expect(values.every((v) => Number.isFinite(v) && v >= 0 && v <= 1)).toBe(true);
    if (cfg.classes > 1) {
      const sums = await before.sum(-1).data();
      expect(Math.max(...Array.from(sums, (s) => Math.abs(s - 1)))).toBeLessThan(1e-4);
    }
    const headKernel = net.model.getLayer('decoder_head_conv').getWeights()[0];
    const kernelBefore = await headKernel.data();
    net.model.compile({ optimizer: tf.train.adam(1e-3), loss: cfg.classes === 1 ? 'binaryCrossentropy' : 'categoricalCrossentropy' });
    const loss = (await net.model.trainOnBatch(x, y)) as number;
    expect(Number.isFinite(loss)).toBe(true);
    expect(loss).toBeGreaterThan(0);
    const kernelAfter = await net.model.getLayer('decoder_head_conv').getWeights()[0].data();
    expect(kernelAfter.some((v, i) => v !== kernelBefore[i])).toBe(true);
    tf.dispose([x, y, before]);
  } finally {
    net.model.dispose();
  }
}

describe('architectures with resnet18', () => {
  // Depths vary so 3, 4 and 5 are all exercised; PAN at depth 5 needs 128² (its stride-16 map is pooled ×3).
  const cases: [ArchName, number, number][] = [
    ['Unet', 5, 64], ['UnetPlusPlus', 4, 64], ['Linknet', 5, 64], ['FPN', 5, 64], ['PSPNet', 3, 64],
    ['PAN', 5, 128], ['DeepLabV3', 5, 64], ['DeepLabV3Plus', 5, 64], ['MAnet', 4, 64],
  ];
  it('covers every registered architecture', () => {
    expect(cases.map((c) => c[0]).sort()).toEqual([...listArchitectures()].sort());
  });
  it("Unet-like decoders keep smp's last `depth` decoder channels (depth 3 → 64, 32, 16)", () => {
    const net = buildModel(config({ arch: 'UnetPlusPlus', encoderDepth: 3, widthScale: 1, inputShape: [32, 32, 3] }));
    const channels = (name: string) => net.model.getLayer(name).outputShape[3];
    expect([channels('decoder_x_0_0_conv2_act'), channels('decoder_x_0_1_conv2_act'), channels('decoder_x_0_2_conv2_act')]).toEqual([64, 32, 16]);
    net.model.dispose();
  });
  for (const [arch, depth, size] of cases) {
    it(`${arch} (depth ${depth}) builds, outputs the input size and trains one step`, async () => {
      await buildAndTrain(config({ arch, encoderDepth: depth, inputShape: [size, size, 3], classes: arch === 'FPN' || arch === 'MAnet' ? 3 : 1 }));
    });
  }
});

describe('encoder families', () => {
  const cases: [string, ArchName, number, number][] = [
    ['resnet50', 'DeepLabV3', 64, 0.0625],
    ['resnext50_32x4d', 'FPN', 64, 0.0625],
    ['se_resnet50', 'Linknet', 64, 0.0625],
    ['se_resnext50_32x4d', 'DeepLabV3Plus', 64, 0.0625],
    ['timm-skresnet18', 'DeepLabV3', 64, 0.125],
    ['timm-skresnext50_32x4d', 'Unet', 64, 0.0625],
    ['timm-resnest14d', 'PAN', 128, 0.0625],
    ['timm-resnest50d_4s2x40d', 'Unet', 64, 0.0625],
    ['timm-resnest50d_1s4x24d', 'MAnet', 64, 0.0625],
    ['senet154', 'Linknet', 32, 0.0625],
  ];
  for (const [encoder, arch, size, widthScale] of cases) {
    it(`${encoder} (${resnetEncoders[encoder].family}) under ${arch} builds and trains one step`, async () => {
      // senet154 (64 groups, 36-block layer3) stays at depth 3 to keep the test fast.
      await buildAndTrain(config({ arch, encoder, inputShape: [size, size, 3], widthScale, encoderDepth: encoder === 'senet154' ? 3 : 5 }));
    });
  }

  it('features have smp channel counts and strides; output stride 16/8 dilates instead', () => {
    for (const name of ['resnet34', 'timm-resnest14d', 'se_resnet50', 'timm-skresnet18']) {
      const spec = resnetEncoders[name];
      for (const [outputStride, strides] of [[32, [1, 2, 4, 8, 16, 32]], [16, [1, 2, 4, 8, 16, 16]], [8, [1, 2, 4, 8, 8, 8]]] as const) {
        const features = withInitSettings({ mode: 'zeros' }, () =>
          spec.build({ input: tf.input({ shape: [64, 64, 3] }), inChannels: 3, depth: 5, widthScale: 1, outputStride, name: 'encoder' }),
        );
        expect(features.map((f) => f.shape[3])).toEqual(spec.outChannels);
        expect(features.map((f) => 64 / (f.shape[1] as number))).toEqual(strides);
      }
    }
  });

  it('depth cuts the feature list to depth + 1 and 1-channel input works', () => {
    const features = resnetEncoders.resnet18.build({
      input: tf.input({ shape: [32, 32, 1] }), inChannels: 1, depth: 3, widthScale: 0.125, outputStride: 32, name: 'encoder',
    });
    expect(features.map((f) => f.shape.slice(1))).toEqual([[32, 32, 1], [16, 16, 8], [8, 8, 8], [4, 4, 16]]);
  });
});

describe('Monte Carlo dropout', () => {
  const nets: SegmentationNet[] = [];
  const make = (cfg: ModelConfig) => {
    const net = buildModel(cfg);
    nets.push(net);
    return net;
  };
  afterAll(() => {
    for (const net of nets) net.model.dispose();
    setMCDropoutSeed(undefined);
  });
  const input = () => tf.randomUniform([2, 64, 64, 3], 0, 1, 'float32', 11);

  async function movingStats(model: tf.LayersModel): Promise<Float32Array[]> {
    return Promise.all(model.nonTrainableWeights.map((w) => w.read().data() as Promise<Float32Array>));
  }

  for (const strategy of ['head', 'decoder'] as const) {
    it(`'${strategy}': stochastic in MC mode, deterministic otherwise, BN statistics untouched`, async () => {
      const net = make(config({ arch: 'FPN', dropout: { strategy, rate: 0.5 } }));
      const x = input();
      const count = setMCMode(net.model, true);
      expect(strategy === 'head' ? count === 1 : count > 5).toBe(true);
      const stats = await movingStats(net.model);
      const a = await (net.model.predict(x) as tf.Tensor).data();
      const b = await (net.model.predict(x) as tf.Tensor).data();
      expect(a.some((v, i) => Math.abs(v - b[i]) > 1e-6)).toBe(true);
      const statsAfter = await movingStats(net.model);
      expect(statsAfter).toEqual(stats);
      setMCMode(net.model, false);
      const c = await (net.model.predict(x) as tf.Tensor).data();
      const d = await (net.model.predict(x) as tf.Tensor).data();
      expect(Array.from(c)).toEqual(Array.from(d));
    });
  }

  it("'none' has no MCDropout: identical outputs even in MC mode, and mcSplit throws", async () => {
    const net = make(config({ arch: 'PSPNet', encoderDepth: 3 }));
    expect(setMCMode(net.model, true)).toBe(0);
    const x = input();
    const a = await (net.model.predict(x) as tf.Tensor).data();
    const b = await (net.model.predict(x) as tf.Tensor).data();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(() => net.mcSplit()).toThrow(/strategy 'none'/);
  });

  const splitCases: [ArchName, 'head' | 'decoder', number][] = [
    ['Unet', 'head', 5], ['Unet', 'decoder', 5], ['DeepLabV3Plus', 'decoder', 5], ['PSPNet', 'decoder', 3], ['MAnet', 'head', 4],
  ];
  for (const [arch, strategy, depth] of splitCases) {
    it(`mcSplit of ${arch} '${strategy}': prefix → tail equals the full model outside MC mode`, async () => {
      const net = make(config({ arch, encoderDepth: depth, classes: 2, dropout: { strategy, rate: 0.3 } }));
      const { prefix, tail } = net.mcSplit();
      const x = input();
      const full = net.model.predict(x) as tf.Tensor;
      const split = tail.predict(prefix.predict(x)) as tf.Tensor;
      expect(split.shape).toEqual(full.shape);
      expect(tf.max(tf.abs(tf.sub(full, split))).dataSync()[0]).toBeLessThan(1e-5);
      // Shared weights: the tail holds the model's own head layer, not a copy.
      expect(tail.layers.some((l) => l === net.model.getLayer('decoder_head_conv'))).toBe(true);
      if (strategy === 'decoder') expect(prefix.layers.some((l) => l instanceof MCDropout)).toBe(false);
    });
  }

  it("mcSplit 'head': with the same dropout seed, prefix + tail reproduces the full stochastic pass", async () => {
    const net = make(config({ arch: 'Linknet', classes: 1, dropout: { strategy: 'head', rate: 0.5 } }));
    const { same, other } = seededSplitDiffs(net.model, net.mcSplit(), input(), 5, 6);
    expect(same).toBeLessThan(1e-5);
    expect(other).toBeGreaterThan(1e-4);
  });
});

describe('parameter counts match segmentation_models_pytorch', () => {
  /**
   * in_channels 3, classes 1, depth 5, derived from smp's decoder sources with resnet34's 21,284,672
   * encoder parameters (torchvision's 21,797,672 minus the 513,000 of its fc layer). Linknet: 4 blocks
   * 512→256→128→64→64 plus one to 32 (1×1 conv, biased 4×4 transposed conv, 1×1 conv, each with BN) = 487,232,
   * head 33 → 21,771,937 (the 21,771,569 sometimes quoted is 368 short of what smp's source builds).
   */
  const SMP_RESNET34: Record<ArchName, number> = {
    Unet: 24_436_369,
    FPN: 23_155_393,
    Linknet: 21_771_937,
    DeepLabV3: 26_007_105,
    DeepLabV3Plus: 22_437_457,
    PAN: 21_475_816,
    PSPNet: 22_077_633,
    UnetPlusPlus: 26_078_609,
    MAnet: 31_783_633,
  };

  for (const arch of ['Unet', 'FPN', 'Linknet', 'DeepLabV3'] as ArchName[]) {
    it(`${arch}-resnet34 built at full width has ${SMP_RESNET34[arch].toLocaleString('en')} parameters`, () => {
      const net = buildModel(config({ arch, encoder: 'resnet34', inputShape: [128, 128, 3], widthScale: 1 }));
      try {
        expect(net.paramCount).toBe(SMP_RESNET34[arch]);
        expect(countTrainableParams(net.model)).toBe(net.paramCount);
      } finally {
        net.model.dispose();
      }
    });
  }

  it('listModels gives smp counts for every architecture with resnet34', () => {
    const rows = listModels([256, 256, 3], 1, { encoders: ['resnet34'], encoderDepth: 5 });
    expect(Object.fromEntries(rows.map((r) => [r.arch, r.params]))).toEqual(SMP_RESNET34);
    expect(rows.every((r) => r.family === 'ResNet' && r.encoder === 'resnet34')).toBe(true);
  });

  it("the paper's two models: PAN + timm-regnety_120 = 50,290,512 and DeepLabV3 + dpn98 = 79,758,785", () => {
    const pan = listModels([256, 256, 3], 1, { archs: ['PAN'], encoders: ['timm-regnety_120'] });
    const deeplab = listModels([256, 256, 3], 1, { archs: ['DeepLabV3'], encoders: ['dpn98'] });
    expect(pan[0].params).toBe(50_290_512);
    expect(deeplab[0].params).toBe(79_758_785);
  });

  /**
   * Encoder parameters = the published ImageNet model's count minus its classifier (fc 512·1000+1000 or 2048·1000+1000);
   * the SK encoders are smp 0.6.0's (read from it), which keep timm's SelectiveKernel defaults (rd_divisor 8, split
   * input) where timm's own skresnet18 (11,958,056) and skresnext50_32x4d (27,479,784) override them.
   */
  const ENCODER_PARAMS: Record<string, number> = {
    resnet18: 11_689_512 - 513_000,
    resnet50: 25_557_032 - 2_049_000,
    resnet101: 44_549_160 - 2_049_000,
    resnext50_32x4d: 25_028_904 - 2_049_000,
    resnext101_32x8d: 88_791_336 - 2_049_000,
    se_resnet50: 28_088_024 - 2_049_000,
    se_resnext50_32x4d: 27_559_896 - 2_049_000,
    senet154: 115_088_984 - 2_049_000,
    'timm-resnest14d': 10_611_688 - 2_049_000,
    'timm-resnest50d': 27_483_240 - 2_049_000,
    'timm-skresnet18': 11_441_952,
    'timm-skresnet34': 21_764_720,
    'timm-skresnext50_32x4d': 23_939_056,
  };
  it('encoders match torchvision / pretrainedmodels / timm without their classifier', () => {
    for (const [name, expected] of Object.entries(ENCODER_PARAMS)) {
      const count = withInitSettings({ mode: 'zeros' }, () => {
        const input = tf.input({ shape: [64, 64, 3] });
        const model = tf.model({ inputs: input, outputs: resnetEncoders[name].build({ input, inChannels: 3, depth: 5, widthScale: 1, outputStride: 32, name: 'encoder' }) });
        const n = countTrainableParams(model);
        model.dispose();
        return n;
      });
      expect({ name, count }).toEqual({ name, count: expected });
    }
  });

  it('smp 0.6.0: Unet-vgg16_bn 23,756,689 (center block), Linknet-timm-skresnet34 22,251,985 (SK attention width)', () => {
    const count = (arch: ArchName, encoder: string) => listModels([256, 256, 3], 1, { archs: [arch], encoders: [encoder], encoderDepth: 5 })[0].params;
    expect(count('Unet', 'vgg16_bn')).toBe(23_756_689);
    expect(count('Linknet', 'timm-skresnet34')).toBe(22_251_985);
    expect(count('Unet', 'timm-skresnext50_32x4d')).toBe(32_952_129);
    // smp's UnetPlusPlus holds a vgg center block that its forward never applies; the zoo builds what forward computes.
    expect(count('UnetPlusPlus', 'vgg16_bn') + smpUnusedCenterParams(512)).toBe(39_355_793);
  });

  it('Unet puts two 3×3 conv-BN-ReLU at the deepest channels before the decoder for vgg encoders only', () => {
    const vgg = buildModel(config({ encoder: 'vgg11_bn', widthScale: 0.0625, dropout: { strategy: 'decoder', rate: 0.1 } }));
    const plain = buildModel(config({ widthScale: 0.0625 }));
    const plusPlus = buildModel(config({ arch: 'UnetPlusPlus', encoder: 'vgg11_bn', widthScale: 0.0625 }));
    try {
      const deepest = vgg.model.getLayer('encoder_pool5').outputShape;
      for (const unit of ['center_conv1', 'center_conv2']) {
        expect(vgg.model.getLayer(`decoder_${unit}_conv`).outputShape).toEqual(deepest);
        expect(vgg.model.getLayer(`decoder_${unit}_mcdrop`)).toBeDefined();
      }
      // The first decoder block reads the center block's output.
      const firstUp = vgg.model.getLayer('decoder_block0_up');
      expect(firstUp.inboundNodes[0].inboundLayers.map((l) => l.name)).toEqual(['decoder_center_conv2_mcdrop']);
      const hasCenter = (net: SegmentationNet) => net.model.layers.some((l) => l.name.includes('center'));
      expect([hasCenter(vgg), hasCenter(plain), hasCenter(plusPlus)]).toEqual([true, false, false]);
    } finally {
      for (const net of [vgg, plain, plusPlus]) net.model.dispose();
    }
  });

  it("PSPNet defaults to smp's encoder depth 3, every other architecture to 5, unless a depth is given", () => {
    expect(Object.fromEntries(listArchitectures().map((a) => [a, defaultEncoderDepth(a)]))).toEqual(
      Object.fromEntries(ARCHS.map((a) => [a, a === 'PSPNet' ? 3 : 5])),
    );
    const listed = (encoderDepth?: number) => listModels([64, 64, 3], 1, { archs: ['PSPNet', 'Unet'], encoders: ['resnet18'], widthScale: 0.125, encoderDepth });
    const [pspDefault, unetDefault] = listed();
    expect(pspDefault.params).toBe(listed(3)[0].params);
    expect(unetDefault.params).toBe(listed(5)[1].params);
    expect(pspDefault.params).not.toBe(listed(5)[0].params);
    const withoutDepth: ModelConfigInput = { ...config({ arch: 'PSPNet', widthScale: 0.125 }), encoderDepth: undefined };
    const net = buildModel(withoutDepth);
    const deeper = buildModel({ ...withoutDepth, encoderDepth: 4 });
    try {
      expect(net.config.encoderDepth).toBe(3);
      expect(net.paramCount).toBe(pspDefault.params);
      expect(deeper.config.encoderDepth).toBe(4);
    } finally {
      net.model.dispose();
      deeper.model.dispose();
    }
  });

  it('listModels equals the built models at any width, depth and class count', () => {
    for (const [encoderDepth, encoders] of [[4, ['resnet18', 'timm-skresnet18']], [3, ['resnet34']]] as const) {
      const rows = listModels([128, 128, 1], 3, { widthScale: 0.125, encoderDepth, encoders: [...encoders] });
      expect(rows).toHaveLength(ARCHS.length * encoders.length);
      for (const row of rows) {
        const net = buildModel(config({ arch: row.arch, encoder: row.encoder, encoderDepth, inputShape: [128, 128, 1], classes: 3 }));
        expect({ ...row, params: net.paramCount }).toEqual(row);
        net.model.dispose();
      }
    }
  });

  it("listModels reports an architecture's size constraint as that row's error", () => {
    const rows = listModels([64, 64, 3], 1, { widthScale: 0.125, encoders: ['resnet18'], archs: ['Unet', 'PAN'] });
    expect(rows[0].params).toBeGreaterThan(0);
    expect(rows[0].error).toBeUndefined();
    expect(rows[1].params).toBeNaN();
    expect(rows[1].error).toMatch(/PAN.*multiples of 128/);
    expect(() => listModels([64, 64, 3], 1, { encoderDepth: 6 })).toThrow(/encoderDepth/);
  });
});

describe('configuration errors say what is wrong', () => {
  const cases: [string, Partial<ModelConfig>, RegExp][] = [
    ['unknown architecture', { arch: 'SegNet' as ArchName }, /Unknown architecture 'SegNet'.*Unet, UnetPlusPlus/],
    ['unknown encoder', { encoder: 'resnet19' }, /Unknown encoder 'resnet19'.*resnet18, resnet34/],
    ['depth 2', { encoderDepth: 2 }, /encoderDepth must be 3, 4 or 5, got 2/],
    ['depth 6', { encoderDepth: 6 }, /encoderDepth must be 3, 4 or 5, got 6/],
    ['size not divisible', { inputShape: [48, 64, 3] }, /multiples of 2\^encoderDepth = 32, got 48×64/],
    ['2 channels', { inputShape: [64, 64, 2] }, /channels must be 1 or 3, got 2/],
    ['0 classes', { classes: 0 }, /classes must be an integer ≥ 1, got 0/],
    ['PAN too small', { arch: 'PAN' }, /PAN.*multiples of 128/],
  ];
  for (const [label, overrides, message] of cases) {
    it(label, () => {
      expect(() => buildModel(config(overrides))).toThrow(message);
    });
  }

  it('lists every architecture and encoder of both families', () => {
    expect(listArchitectures()).toEqual(ARCHS);
    const encoders = listEncoders();
    for (const name of Object.keys(resnetEncoders)) expect(encoders).toContain(name);
    expect(encoders.length).toBeGreaterThan(Object.keys(resnetEncoders).length);
  });
});

describe('initialisation', () => {
  it('the same seed builds the same weights; another seed does not', () => {
    const a = buildModel(config({ seed: 3, encoder: 'timm-resnest14d', widthScale: 0.0625 }));
    const b = buildModel(config({ seed: 3, encoder: 'timm-resnest14d', widthScale: 0.0625 }));
    const c = buildModel(config({ seed: 4, encoder: 'timm-resnest14d', widthScale: 0.0625 }));
    try {
      const values = (net: SegmentationNet) => net.model.getWeights().map((w) => Array.from(w.dataSync()));
      expect(values(b)).toEqual(values(a));
      expect(values(c)).not.toEqual(values(a));
    } finally {
      for (const net of [a, b, c]) net.model.dispose();
    }
  });
});

describe('encoder weights from a file', () => {
  it('round-trips the encoder and rejects a mismatched file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zoo-weights-'));
    const source = buildModel(config({ seed: 1 }));
    const file = saveEncoderWeights(source, dir);
    const loaded = buildModel(config({ seed: 2, arch: 'FPN' }), { encoderWeights: file });
    const fresh = buildModel(config({ seed: 2, arch: 'FPN' }));
    try {
      const stem = (net: SegmentationNet) => net.model.getLayer('encoder_conv1_conv').getWeights()[0].dataSync();
      const deep = (net: SegmentationNet) => net.model.getLayer('encoder_layer4_1_conv2_conv').getWeights()[0].dataSync();
      expect(Array.from(stem(loaded))).toEqual(Array.from(stem(source)));
      expect(Array.from(deep(loaded))).toEqual(Array.from(deep(source)));
      expect(Array.from(stem(fresh))).not.toEqual(Array.from(stem(source)));
      const x = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 2);
      const features = (net: SegmentationNet) =>
        (tf.model({ inputs: net.model.inputs, outputs: net.model.getLayer('encoder_layer4_1_out').output as tf.SymbolicTensor }).predict(x) as tf.Tensor).dataSync();
      expect(Array.from(features(loaded))).toEqual(Array.from(features(source)));
      expect(() => buildModel(config({ widthScale: 0.25 }), { encoderWeights: file })).toThrow(/shape .* the model expects/);
      expect(() => buildModel(config({ encoder: 'resnet34' }), { encoderWeights: file })).toThrow(/lacks \d+ encoder weights/);
      expect(() => buildModel(config(), { encoderWeights: path.join(dir, 'missing.json') })).toThrow(/does not exist/);
    } finally {
      for (const net of [source, loaded, fresh]) net.model.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('serialization', () => {
  it('a saved model (custom layers included) reloads with tf.loadLayersModel and predicts the same', async () => {
    for (const [arch, encoder] of [['MAnet', 'timm-resnest14d'], ['DeepLabV3Plus', 'timm-skresnet18'], ['FPN', 'se_resnet50']] as const) {
      const net = buildModel(config({ arch, encoder, classes: 2, widthScale: 0.0625, dropout: { strategy: 'decoder', rate: 0.2 } }));
      net.mcSplit(); // the split re-uses the model's layers on new inputs; saving must still see one model
      let artifacts: tf.io.ModelArtifacts | undefined;
      await net.model.save(tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }));
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
      const x = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 1);
      const diff = tf.max(tf.abs(tf.sub(net.model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor))).dataSync()[0];
      expect({ arch, encoder, diff }).toEqual({ arch, encoder, diff: 0 });
      net.model.dispose();
      loaded.dispose();
    }
  });
});

describe('PyTorch-semantics layers', () => {
  it('TorchConv2d: dilation, groups, stride-2 padding and one output channel equal reference convolutions, and dilation trains', () => {
    const x = tf.randomUniform([1, 9, 9, 4], -1, 1, 'float32', 1) as tf.Tensor4D;
    const layer = (args: ConstructorParameters<typeof TorchConv2d>[0]) => {
      const l = new TorchConv2d(args);
      l.apply(tf.input({ shape: [9, 9, 4] }));
      return l;
    };
    // Dilation 2, padding 2: same as tfjs' forward-only dilated 'same' conv.
    const dilated = layer({ filters: 3, kernelSize: 3, dilation: 2 });
    const kernel = dilated.getWeights()[0] as tf.Tensor4D;
    const expectedDilated = tf.conv2d(x, kernel, 1, 'same', 'NHWC', 2);
    expect(tf.max(tf.abs(tf.sub(dilated.apply(x) as tf.Tensor, expectedDilated))).dataSync()[0]).toBeLessThan(1e-5);
    // Groups 2: each half of the channels convolved with its own half of the kernel.
    const grouped = layer({ filters: 6, kernelSize: 3, groups: 2 });
    const gk = grouped.getWeights()[0] as tf.Tensor4D;
    const halves = tf.split(x, 2, 3) as tf.Tensor4D[];
    const kernels = tf.split(gk, 2, 3) as tf.Tensor4D[];
    const expectedGrouped = tf.concat([tf.conv2d(halves[0], kernels[0], 1, 'same'), tf.conv2d(halves[1], kernels[1], 1, 'same')], 3);
    expect(tf.max(tf.abs(tf.sub(grouped.apply(x) as tf.Tensor, expectedGrouped))).dataSync()[0]).toBeLessThan(1e-5);
    // Stride 2, padding 1 (PyTorch): symmetric, unlike TF 'same' which pads (0, 1) here.
    const strided = layer({ filters: 2, kernelSize: 3, stride: 2 });
    const sk = strided.getWeights()[0] as tf.Tensor4D;
    const expectedStrided = tf.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), sk, 2, 'valid');
    const actualStrided = strided.apply(x) as tf.Tensor;
    expect(actualStrided.shape).toEqual([1, 5, 5, 2]);
    expect(tf.max(tf.abs(tf.sub(actualStrided, expectedStrided))).dataSync()[0]).toBeLessThan(1e-5);
    // Stride 2 with dilation 2 (SK paths): every other output of the stride-1 dilated conv.
    const both = layer({ filters: 3, kernelSize: 3, dilation: 2, stride: 2 });
    both.setWeights([kernel]);
    const expectedBoth = tf.stridedSlice(expectedDilated, [0, 0, 0, 0], [1, 9, 9, 3], [1, 2, 2, 1]);
    expect(tf.max(tf.abs(tf.sub(both.apply(x) as tf.Tensor, expectedBoth))).dataSync()[0]).toBeLessThan(1e-5);
    // Rates beyond the map (ASPP's 12/24/36 on small maps), plain and depthwise, still equal the reference.
    const wide = layer({ filters: 3, kernelSize: 3, dilation: 12 });
    const expectedWide = tf.conv2d(x, wide.getWeights()[0] as tf.Tensor4D, 1, 'same', 'NHWC', 12);
    expect(tf.max(tf.abs(tf.sub(wide.apply(x) as tf.Tensor, expectedWide))).dataSync()[0]).toBeLessThan(1e-5);
    for (const rate of [3, 12]) {
      const depthwise = layer({ filters: 4, kernelSize: 3, dilation: rate, groups: 4 });
      const dk = (depthwise.getWeights()[0] as tf.Tensor4D).reshape([3, 3, 4, 1]) as tf.Tensor4D;
      const expectedDepthwise = tf.depthwiseConv2d(x, dk, 1, 'same', 'NHWC', rate);
      expect(tf.max(tf.abs(tf.sub(depthwise.apply(x) as tf.Tensor, expectedDepthwise))).dataSync()[0]).toBeLessThan(1e-5);
    }
    // One output channel at inference (a depthwise conv summed over channels) equals the reference conv, with
    // TF 'same', PyTorch padding and dilation; training computes the reference conv itself.
    for (const args of [{ kernelSize: 3 }, { kernelSize: 3, padding: 'same' as const }, { kernelSize: 5, padding: 1 }, { kernelSize: 3, dilation: 2 }]) {
      const single = layer({ filters: 1, useBias: true, ...args });
      single.setWeights([single.getWeights()[0], tf.tensor1d([0.3])]);
      const k = single.getWeights()[0] as tf.Tensor4D;
      const pad = args.padding === 'same' ? 'same' : (args.padding ?? (args.dilation ?? 1)) as number;
      const padded = pad === 'same' ? x : tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) as tf.Tensor4D;
      const expected = tf.add(tf.conv2d(padded, k, 1, pad === 'same' ? 'same' : 'valid', 'NHWC', args.dilation ?? 1), 0.3);
      for (const training of [false, true]) {
        const actual = single.apply(x, { training }) as tf.Tensor;
        expect(actual.shape).toEqual(expected.shape);
        expect(tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]).toBeLessThan(1e-5);
      }
    }
    // Gradients through the dilated conv exist and are finite (tfjs' own dilated conv has none).
    const { value, grads } = tf.variableGrads(() => (dilated.apply(x) as tf.Tensor).square().mean() as tf.Scalar, dilated.trainableWeights.map((w) => w.read() as tf.Variable));
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    expect(Object.values(grads).every((g) => g.abs().sum().dataSync()[0] > 0)).toBe(true);
  });

  it('AdaptiveAvgPool2d averages PyTorch bins [floor(i·n/k), ceil((i+1)·n/k))', () => {
    const x = tf.randomUniform([2, 5, 7, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const pool = new AdaptiveAvgPool2d({ outputSize: [3, 2] });
    const actual = (pool.apply(x) as tf.Tensor).arraySync() as number[][][][];
    const values = x.arraySync();
    for (let n = 0; n < 2; n++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 2; j++) {
          for (let c = 0; c < 3; c++) {
            const [h0, h1] = [Math.floor((i * 5) / 3), Math.ceil(((i + 1) * 5) / 3)];
            const [w0, w1] = [Math.floor((j * 7) / 2), Math.ceil(((j + 1) * 7) / 2)];
            let sum = 0;
            for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) sum += values[n][h][w][c];
            expect(actual[n][i][j][c]).toBeCloseTo(sum / ((h1 - h0) * (w1 - w0)), 5);
          }
        }
      }
    }
  });
});
