import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import { HardActivation, TorchConv2d } from '../../ml/layers';
import { withInitSettings } from '../../ml/zoo';
import { encoderRegistry } from '../../ml/zoo/encoders';
import { scaled, type EncoderSpec } from '../../ml/zoo/encoders/contract';
import { efficientNetUnusedHeadParams } from '../../ml/zoo/encoders/efficientnet';
import { resnetEncoders } from '../../ml/zoo/encoders/resnet';

beforeAll(async () => {
  await initBackend();
});

const SMP_NAMES = [
  'densenet121', 'densenet169', 'densenet201', 'densenet161',
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((b) => `efficientnet-b${b}`),
  'dpn68', 'dpn68b', 'dpn92', 'dpn98', 'dpn107', 'dpn131',
  ...['002', '004', '006', '008', '016', '032', '040', '064', '080', '120', '160', '320']
    .flatMap((size) => [`timm-regnetx_${size}`, `timm-regnety_${size}`]),
  'vgg11_bn', 'vgg13_bn', 'vgg16_bn', 'vgg19_bn',
  'mobilenet_v2',
  'timm-mobilenetv3_large_075', 'timm-mobilenetv3_large_100', 'timm-mobilenetv3_large_minimal_100',
  'timm-mobilenetv3_small_075', 'timm-mobilenetv3_small_100', 'timm-mobilenetv3_small_minimal_100',
];

let modelCounter = 0;

interface Built {
  input: tf.SymbolicTensor;
  features: tf.SymbolicTensor[];
}

function build(
  spec: EncoderSpec, size: number, widthScale: number, depth = 5, outputStride: 8 | 16 | 32 = 32, inChannels = 3,
): Built {
  modelCounter += 1;
  const input = tf.input({ shape: [size, size, inChannels] });
  const features = spec.build({ input, inChannels, depth, widthScale, outputStride, name: `enc${modelCounter}` });
  return { input, features };
}

/** Trainable parameters as PyTorch counts them: weights, biases, BN gamma/beta (moving statistics excluded). */
function trainableParams(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((sum, w) => sum + w.read().size, 0);
}

function isFinite(t: tf.Tensor): boolean {
  return tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 1);
}

/**
 * One SGD step of a 1×1-conv head on the deepest feature (training mode, so BN uses batch statistics).
 * Returns the loss, whether every gradient and every updated weight is finite, and the stem's gradient mass.
 */
function oneTrainingStep(built: Built, size: number, inChannels = 3) {
  const deepest = built.features[built.features.length - 1];
  const head = tf.layers.conv2d({ filters: 1, kernelSize: 1, name: `head${modelCounter}` }).apply(deepest);
  const model = tf.model({ inputs: built.input, outputs: head as tf.SymbolicTensor });
  const x = tf.randomNormal([2, size, size, inChannels], 0, 1, 'float32', 7);
  const outShape = model.outputs[0].shape.slice(1) as number[];
  const target = tf.randomUniform([2, ...outShape], 0, 1, 'float32', 11);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const lossFn = () => tf.losses.meanSquaredError(target, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
  const { value, grads } = tf.variableGrads(lossFn, vars);
  const gradsFinite = Object.values(grads).every(isFinite);
  const stemGrad = tf.tidy(() => tf.sum(tf.abs(grads[vars[0].name])).dataSync()[0]);
  tf.train.sgd(0.01).applyGradients(grads);
  const loss = value.dataSync()[0];
  const weightsFinite = vars.every(isFinite);
  tf.dispose([x, target, value, ...Object.values(grads)]);
  model.dispose();
  return { loss, gradsFinite, weightsFinite, stemGrad };
}

/** Expected channels of feature i at a width scale; feature 0 is the input, except for VGG (its first conv block). */
function expectedChannels(spec: EncoderSpec, widthScale: number, inChannels = 3): number[] {
  return spec.outChannels.map((c, i) => (i === 0 && spec.family !== 'VGG' ? inChannels : scaled(c, widthScale)));
}

describe('encoder registry', () => {
  it('holds the ResNet families and exactly the smp names of the DenseNet, EfficientNet, DPN, RegNet, VGG-bn, MobileNet families, flat', () => {
    expect(Object.keys(encoderRegistry).sort()).toEqual([...Object.keys(resnetEncoders), ...SMP_NAMES].sort());
    expect(Object.keys(encoderRegistry)).toHaveLength(81);
    for (const spec of Object.values(encoderRegistry)) expect(spec.outChannels).toHaveLength(6);
  });
});

/**
 * One encoder of each kind trains a step here; every encoder's structure (layers, names, connections, counts) is
 * pinned by the zoo snapshot, and every encoder runs forward at the smallest width below.
 */
const TRAINED = [
  'densenet121', 'efficientnet-b0', 'efficientnet-b3', 'dpn68', 'dpn68b', 'dpn92', 'timm-regnetx_002', 'timm-regnety_002',
  'timm-regnety_016', 'vgg11_bn', 'mobilenet_v2', 'timm-mobilenetv3_large_100', 'timm-mobilenetv3_small_minimal_100',
];

describe.each(SMP_NAMES)('%s', (encoderName) => {
  it(`builds at width 0.25 with smp strides and channels${TRAINED.includes(encoderName) ? ', and trains one finite step' : ''}`, () => {
    const spec = encoderRegistry[encoderName];
    const size = 32;
    const built = build(spec, size, 0.25);
    expect(built.features).toHaveLength(6);
    expect(built.features.map((f) => f.shape[1])).toEqual([32, 16, 8, 4, 2, 1]);
    expect(built.features.map((f) => f.shape[2])).toEqual([32, 16, 8, 4, 2, 1]);
    expect(built.features.map((f) => f.shape[3])).toEqual(expectedChannels(spec, 0.25));
    if (!TRAINED.includes(encoderName)) return;
    const step = oneTrainingStep(built, size);
    expect(Number.isFinite(step.loss)).toBe(true);
    expect(step.gradsFinite).toBe(true);
    expect(step.weightsFinite).toBe(true);
    expect(step.stemGrad).toBeGreaterThan(0);
  });
});

describe('smallest width', () => {
  it('every encoder builds and runs at width 0.0625 (grouped convolutions stay divisible)', () => {
    const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 5);
    for (const encoderName of SMP_NAMES) {
      const { input, features } = build(encoderRegistry[encoderName], 32, 0.0625);
      const model = tf.model({ inputs: input, outputs: features });
      const outputs = model.predict(x) as tf.Tensor[];
      expect(outputs.map((o) => o.shape), encoderName).toEqual(features.map((f) => [1, ...f.shape.slice(1)]));
      expect(outputs.every(isFinite), encoderName).toBe(true);
      expect(Math.min(...features.map((f) => f.shape[3] as number)), encoderName).toBeGreaterThanOrEqual(1);
      tf.dispose(outputs);
      model.dispose();
    }
    x.dispose();
  });
});

describe('encoder depth and input channels', () => {
  it.each([
    'densenet121', 'efficientnet-b0', 'dpn68', 'timm-regnety_002', 'vgg11_bn', 'mobilenet_v2',
    'timm-mobilenetv3_small_100',
  ])(
    '%s returns depth + 1 features for depths 3 and 4, and accepts 1-channel input',
    (encoderName) => {
      const spec = encoderRegistry[encoderName];
      for (const depth of [3, 4]) {
        const { features } = build(spec, 32, 0.125, depth, 32, 1);
        expect(features).toHaveLength(depth + 1);
        expect(features.map((f) => f.shape[1])).toEqual([32, 16, 8, 4, 2].slice(0, depth + 1));
        expect(features.map((f) => f.shape[3])).toEqual(expectedChannels(spec, 0.125, 1).slice(0, depth + 1));
      }
    },
  );

  it('rejects depths outside 1…5', () => {
    expect(() => build(encoderRegistry.dpn68, 32, 0.125, 6)).toThrow(/depth must be an integer in 1…5/);
  });
});

describe('output stride (smp make_dilated)', () => {
  it.each([
    'dpn68', 'efficientnet-b0', 'timm-regnety_002', 'timm-regnetx_002', 'mobilenet_v2', 'timm-mobilenetv3_large_100',
  ])(
    '%s trades the last strides for dilation at output stride 16 and 8, and still trains',
    (encoderName) => {
      const spec = encoderRegistry[encoderName];
      const size = 32;
      const expectedSizes: Record<16 | 8, number[]> = { 16: [32, 16, 8, 4, 2, 2], 8: [32, 16, 8, 4, 4, 4] };
      const undilated = build(spec, size, 0.125);
      const undilatedParams = trainableParams(tf.model({ inputs: undilated.input, outputs: undilated.features }));
      for (const outputStride of [16, 8] as const) {
        const built = build(spec, size, 0.125, 5, outputStride);
        expect(trainableParams(tf.model({ inputs: built.input, outputs: built.features }))).toBe(undilatedParams);
        expect(built.features.map((f) => f.shape[1])).toEqual(expectedSizes[outputStride]);
        expect(built.features.map((f) => f.shape[3])).toEqual(expectedChannels(spec, 0.125));
        const step = oneTrainingStep(built, size);
        expect(Number.isFinite(step.loss)).toBe(true);
        expect(step.gradsFinite).toBe(true);
        expect(step.weightsFinite).toBe(true);
      }
    },
  );

  it.each(['vgg16_bn', 'densenet121'])('%s refuses dilation with a clear error, as smp does', (encoderName) => {
    expect(() => build(encoderRegistry[encoderName], 32, 0.125, 5, 16)).toThrow(/do not support output stride 16/);
    expect(() => build(encoderRegistry[encoderName], 32, 0.125, 5, 8)).toThrow(/do not support output stride 8/);
  });
});

describe('parameter counts at full width equal the PyTorch encoders without their classifier', () => {
  // Derived from the sources: torchvision / lukemelas / timm / pretrainedmodels totals minus fc / classifier / head.
  // dpn98 and timm-regnety_120 also close the paper's totals exactly: DeepLabV3 decoder 20,877,057 + 58,881,728 =
  // 79,758,785 and PAN decoder + head 708,968 + 49,581,544 = 50,290,512.
  const REFERENCE: Record<string, number> = {
    densenet121: 6_953_856, // 7,978,856 − classifier 1,025,000
    vgg16_bn: 14_723_136, // `features` of torchvision vgg16_bn
    mobilenet_v2: 2_223_872, // 3,504,872 − classifier 1,281,000
    'efficientnet-b0': 3_595_388, // 5,288,548 − _fc 1,281,000 − unused _conv_head/_bn1 412,160
    dpn68: 11_778_602, // 12,611,602 − classifier conv 833,000
    dpn98: 58_881_728, // 61,570,728 − classifier conv 2,689,000
    'timm-regnety_120': 49_581_544, // 51,822,544 − head.fc 2,241,000
    'timm-regnetx_002': 2_315_792, // 2,684,792 − head.fc 369,000
    'timm-mobilenetv3_large_100': 2_971_952, // 5,483,032 − conv_head 1,230,080 − classifier 1,281,000
  };

  it.each(Object.entries(REFERENCE))('%s has %i trainable parameters', (encoderName, expected) => {
    // Zero-filled weights: only shapes matter here, and random init of ~50 M weights is slow.
    const { input, features } = withInitSettings({ mode: 'zeros' }, () => build(encoderRegistry[encoderName], 64, 1));
    const model = tf.model({ inputs: input, outputs: features });
    expect(trainableParams(model)).toBe(expected);
    model.dispose();
  });

  it("reports the unused EfficientNet head that smp's module still holds (efficientnet-b0: 4,007,548 in total)", () => {
    expect(REFERENCE['efficientnet-b0'] + efficientNetUnusedHeadParams['efficientnet-b0']).toBe(4_007_548);
  });
});

describe('HardActivation', () => {
  it("computes PyTorch's hardswish and hardsigmoid, not Keras' hardSigmoid", () => {
    const x = tf.tensor1d([-4, -3, 0, 1.5, 3, 5]);
    const swish = new HardActivation({ kind: 'hardSwish' }).apply(x) as tf.Tensor;
    const sigmoid = new HardActivation({ kind: 'hardSigmoid' }).apply(x) as tf.Tensor;
    expect(Array.from(swish.dataSync(), (v) => v + 0)).toEqual([0, 0, 0, 1.125, 3, 5]);
    expect(Array.from(sigmoid.dataSync())).toEqual([0, 0, 0.5, 0.75, 1, 1]);
  });
});

describe('serialisation', () => {
  it.each(['dpn68', 'timm-mobilenetv3_large_100', 'efficientnet-b0'])(
    '%s (dilated, output stride 8) survives model.save → tf.loadLayersModel with identical outputs',
    async (encoderName) => {
      const { input, features } = build(encoderRegistry[encoderName], 32, 0.125, 5, 8);
      const model = tf.model({ inputs: input, outputs: features });
      let saved: tf.io.ModelArtifacts | undefined;
      await model.save(tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }));
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
      const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 21);
      const before = model.predict(x) as tf.Tensor[];
      const after = loaded.predict(x) as tf.Tensor[];
      expect(after).toHaveLength(before.length);
      before.forEach((t, i) => expect(tf.max(tf.abs(tf.sub(t, after[i]))).dataSync()[0]).toBeLessThan(1e-5));
      tf.dispose([x, ...before, ...after]);
      model.dispose();
      loaded.dispose();
    },
  );
});

describe('initialisation', () => {
  it("follows the zoo's init settings: a seeded build is reproducible, another seed differs", () => {
    const weightsOf = (seed: number) => withInitSettings({ mode: 'random', seed }, () => {
      const { input, features } = build(encoderRegistry['timm-regnety_002'], 32, 0.125);
      const model = tf.model({ inputs: input, outputs: features });
      const values = model.trainableWeights.map((w) => Array.from(w.read().dataSync()));
      model.dispose();
      return values;
    });
    const first = weightsOf(3);
    expect(weightsOf(3)).toEqual(first);
    expect(weightsOf(4)).not.toEqual(first);
  });
});

describe("TorchConv2d as the encoder families spelled it (formerly FlexConv2D: 'strides', 'dilationRate')", () => {
  it("pads strided convolutions symmetrically like PyTorch ('torch') or like TensorFlow ('same')", () => {
    const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 12) as tf.Tensor4D;
    const kernel = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 13) as tf.Tensor4D;
    const torch = applyFlex(x, kernel, { filters: 4, kernelSize: 3, strides: 2, padding: 'torch' });
    const symmetric = tf.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]) as tf.Tensor4D, kernel, 2, 'valid');
    expect(torch.shape).toEqual([1, 4, 4, 4]);
    expect(tf.max(tf.abs(tf.sub(torch, symmetric))).dataSync()[0]).toBeLessThan(1e-4);
    const same = applyFlex(x, kernel, { filters: 4, kernelSize: 3, strides: 2, padding: 'same' });
    expect(tf.max(tf.abs(tf.sub(same, tf.conv2d(x, kernel, 2, 'same')))).dataSync()[0]).toBeLessThan(1e-4);
  });

  function applyFlex(x: tf.Tensor4D, kernel: tf.Tensor4D, args: ConstructorParameters<typeof TorchConv2d>[0]) {
    const layer = new TorchConv2d(args);
    layer.build(x.shape);
    layer.setWeights([kernel]);
    return layer.apply(x) as tf.Tensor4D;
  }

  it('matches tf.conv2d with dilation, also when the size is not a multiple of the rate', () => {
    for (const [k, d] of [[3, 2], [3, 3], [5, 2]]) {
      const x = tf.randomNormal([2, 7, 9, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
      const kernel = tf.randomNormal([k, k, 4, 6], 0, 1, 'float32', 2) as tf.Tensor4D;
      const expected = tf.conv2d(x, kernel, 1, 'same', 'NHWC', d);
      const actual = applyFlex(x, kernel, { filters: 6, kernelSize: k, dilationRate: d });
      expect(actual.shape).toEqual(expected.shape);
      expect(tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]).toBeLessThan(1e-4);
    }
  });

  it('matches per-group convolutions for grouped and depthwise kernels (PyTorch channel order)', () => {
    const x = tf.randomNormal([1, 6, 6, 8], 0, 1, 'float32', 3) as tf.Tensor4D;
    const grouped = tf.randomNormal([3, 3, 2, 12], 0, 1, 'float32', 4) as tf.Tensor4D;
    const xs = tf.split(x, 4, 3);
    const ks = tf.split(grouped, 4, 3);
    const perGroup = xs.map((xi, i) => tf.conv2d(xi as tf.Tensor4D, ks[i] as tf.Tensor4D, 2, 'same'));
    const expectedGrouped = tf.concat(perGroup, 3);
    const actualGrouped = applyFlex(x, grouped, { filters: 12, kernelSize: 3, strides: 2, groups: 4, padding: 'same' });
    expect(tf.max(tf.abs(tf.sub(actualGrouped, expectedGrouped))).dataSync()[0]).toBeLessThan(1e-4);

    const depthwise = tf.randomNormal([3, 3, 1, 16], 0, 1, 'float32', 5) as tf.Tensor4D;
    const perChannel = tf.split(x, 8, 3).map((xi, i) =>
      tf.conv2d(xi as tf.Tensor4D, tf.slice(depthwise, [0, 0, 0, 2 * i], [3, 3, 1, 2]) as tf.Tensor4D, 1, 'same'));
    const actualDepthwise = applyFlex(x, depthwise, { filters: 16, kernelSize: 3, groups: 8 });
    expect(tf.max(tf.abs(tf.sub(actualDepthwise, tf.concat(perChannel, 3)))).dataSync()[0]).toBeLessThan(1e-4);
  });

  it('backpropagates through grouped convolutions like per-group convolutions', () => {
    const x = tf.randomNormal([2, 6, 6, 8], 0, 1, 'float32', 9) as tf.Tensor4D;
    const kernel = tf.randomNormal([3, 3, 2, 12], 0, 1, 'float32', 10) as tf.Tensor4D;
    const weights = tf.randomNormal([2, 3, 3, 12], 0, 1, 'float32', 11);
    const layer = new TorchConv2d({ filters: 12, kernelSize: 3, strides: 2, groups: 4, padding: 'same' });
    layer.build(x.shape);
    layer.setWeights([kernel]);
    const kernelVariable = layer.trainableWeights[0].read() as tf.Variable;
    const flexLoss = (input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input) as tf.Tensor, weights)) as tf.Scalar;
    const flexInputGrad = tf.grad(flexLoss)(x);
    const flexKernelGrad = tf.variableGrads(() => flexLoss(x), [kernelVariable]).grads[kernelVariable.name];
    const referenceLoss = (input: tf.Tensor, filter: tf.Tensor) => {
      const ks = tf.split(filter, 4, 3);
      const outputs = tf.split(input, 4, 3)
        .map((xi, i) => tf.conv2d(xi as tf.Tensor4D, ks[i] as tf.Tensor4D, 2, 'same'));
      return tf.sum(tf.mul(tf.concat(outputs, 3), weights));
    };
    const [referenceInputGrad, referenceKernelGrad] = tf.grads(referenceLoss)([x, kernel]);
    expect(tf.max(tf.abs(tf.sub(flexInputGrad, referenceInputGrad))).dataSync()[0]).toBeLessThan(1e-3);
    expect(tf.max(tf.abs(tf.sub(flexKernelGrad, referenceKernelGrad))).dataSync()[0]).toBeLessThan(1e-3);
  });

  it('backpropagates through dilation exactly like the equivalent zero-inserted kernel', () => {
    const x = tf.randomNormal([1, 9, 8, 2], 0, 1, 'float32', 6) as tf.Tensor4D;
    const kernel = tf.randomNormal([3, 3, 2, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const weights = tf.randomNormal([1, 9, 8, 3], 0, 1, 'float32', 8);
    // A 3×3 kernel at dilation 2 is a 5×5 kernel with zeros between the taps.
    const values = kernel.arraySync();
    const zeroInserted = tf.tensor4d(Array.from({ length: 5 }, (_, r) => Array.from({ length: 5 }, (_, c) =>
      r % 2 === 0 && c % 2 === 0 ? values[r / 2][c / 2] : values[0][0].map((row) => row.map(() => 0)))));
    const layer = new TorchConv2d({ filters: 3, kernelSize: 3, dilationRate: 2 });
    layer.build(x.shape);
    layer.setWeights([kernel]);
    const flexGrad = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input) as tf.Tensor, weights)))(x);
    const referenceGrad = tf.grad((input: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(input as tf.Tensor4D, zeroInserted, 1, 'same'), weights)))(x);
    expect(tf.max(tf.abs(tf.sub(flexGrad, referenceGrad))).dataSync()[0]).toBeLessThan(1e-4);
  });
});
