/**
 * Small hand-built segmentation nets with BatchNorm and MCDropout that expose the zoo's `{ model, mcSplit }`
 * shape, for MC sampling tests: one with 'head' dropout, one 'decoder'-style with a two-output prefix.
 */
import * as tf from '@tensorflow/tfjs';
import { MCDropout, setMCDropoutSeed, setMCMode } from '../../../ml/layers/mcDropout';
import type { MCNet } from '../../../ml/mcSampling';

const SIZE = 16;

function conv(name: string, filters: number, seed: number, activation?: 'sigmoid' | 'softmax' | 'relu', kernelSize = 3) {
  return tf.layers.conv2d({
    name,
    filters,
    kernelSize,
    padding: 'same',
    activation,
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
    biasInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.1, seed: seed + 1 }),
  });
}

/** Non-trivial moving statistics, so a pass that used batch statistics instead would give other numbers. */
function randomiseBatchNorm(model: tf.LayersModel, seed: number): void {
  let s = seed;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const [gamma, beta, mean, variance] = layer.getWeights();
    const next = [
      tf.randomUniform(gamma.shape, 0.5, 1.5, 'float32', s++),
      tf.randomNormal(beta.shape, 0, 0.2, 'float32', s++),
      tf.randomNormal(mean.shape, 0, 0.3, 'float32', s++),
      tf.randomUniform(variance.shape, 0.5, 2, 'float32', s++),
    ];
    layer.setWeights(next);
    tf.dispose(next);
  }
}

function relu(name: string) {
  return tf.layers.reLU({ name });
}

function bn(name: string) {
  return tf.layers.batchNormalization({ name });
}

/** conv-BN-ReLU ×2 → MCDropout → 1×1 head. Prefix: everything before the dropout. */
export function headDropoutNet(classes: number, seed = 1, rate = 0.5): MCNet {
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  const block = (x: tf.SymbolicTensor, i: number, filters: number) =>
    relu(`h_relu${i}`).apply(bn(`h_bn${i}`).apply(conv(`h_conv${i}`, filters, seed + i).apply(x))) as tf.SymbolicTensor;
  const features = block(block(input, 1, 8), 2, 8);
  const dropout = new MCDropout({ rate, name: 'h_dropout' });
  const head = conv('h_head', classes, seed + 10, classes === 1 ? 'sigmoid' : 'softmax', 1);
  const tail = (x: tf.SymbolicTensor) => head.apply(dropout.apply(x)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: tail(features) });
  randomiseBatchNorm(model, seed + 100);
  return {
    model,
    mcSplit: () => {
      const tailInput = tf.input({ shape: features.shape.slice(1) as number[] });
      return {
        prefix: tf.model({ inputs: input, outputs: features }),
        tail: tf.model({ inputs: tailInput, outputs: tail(tailInput) }),
      };
    },
  };
}

/**
 * Two-stage encoder (full and half resolution, with BatchNorm) → decoder: upsample, concat skip, conv, dropout,
 * conv, dropout, softmax head. Prefix: the encoder, with both stages as outputs.
 */
export function decoderDropoutNet(classes: number, seed = 2, rate = 0.3): MCNet {
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  const stage1 = relu('e_relu1').apply(bn('e_bn1').apply(conv('e_conv1', 8, seed).apply(input))) as tf.SymbolicTensor;
  const pooled = tf.layers.maxPooling2d({ poolSize: 2, name: 'e_pool' }).apply(stage1) as tf.SymbolicTensor;
  const stage2 = relu('e_relu2').apply(bn('e_bn2').apply(conv('e_conv2', 16, seed + 1).apply(pooled))) as tf.SymbolicTensor;

  const up = tf.layers.upSampling2d({ size: [2, 2], name: 'd_up' });
  const concat = tf.layers.concatenate({ name: 'd_concat' });
  const conv1 = conv('d_conv1', 8, seed + 2, 'relu');
  const drop1 = new MCDropout({ rate, name: 'd_dropout1' });
  const conv2 = conv('d_conv2', 8, seed + 3, 'relu');
  const drop2 = new MCDropout({ rate, name: 'd_dropout2' });
  const head = conv('d_head', classes, seed + 4, classes === 1 ? 'sigmoid' : 'softmax', 1);
  const decoder = (s1: tf.SymbolicTensor, s2: tf.SymbolicTensor) => {
    const merged = concat.apply([up.apply(s2) as tf.SymbolicTensor, s1]) as tf.SymbolicTensor;
    const d1 = drop1.apply(conv1.apply(merged)) as tf.SymbolicTensor;
    return head.apply(drop2.apply(conv2.apply(d1))) as tf.SymbolicTensor;
  };
  const model = tf.model({ inputs: input, outputs: decoder(stage1, stage2) });
  randomiseBatchNorm(model, seed + 100);
  return {
    model,
    mcSplit: () => {
      const in1 = tf.input({ shape: stage1.shape.slice(1) as number[] });
      const in2 = tf.input({ shape: stage2.shape.slice(1) as number[] });
      return {
        prefix: tf.model({ inputs: input, outputs: [stage1, stage2] }),
        tail: tf.model({ inputs: [in1, in2], outputs: decoder(in1, in2) }),
      };
    },
  };
}

/** Deterministic images [n, 16, 16, 3] in [0, 1), image i the same whichever batch it is loaded in. */
export function testImages(ids: readonly string[]): tf.Tensor4D {
  return tf.tidy(() =>
    tf.stack(ids.map((id) => tf.randomUniform([SIZE, SIZE, 3], 0, 1, 'float32', `image/${id}`))) as tf.Tensor4D,
  );
}

/**
 * The model's MC pass against prefix → tail, in MC mode: the largest difference with the same dropout seed
 * (`same`) and with the tail drawing from another seed (`other`). MC mode and the seed are reset afterwards.
 */
export function seededSplitDiffs(model: tf.LayersModel, split: { prefix: tf.LayersModel; tail: tf.LayersModel }, x: tf.Tensor,
  seed: number, otherSeed: number): { same: number; other: number } {
  const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
  const viaSplit = () => split.tail.predict(split.prefix.predict(x)) as tf.Tensor;
  setMCMode(model, true);
  try {
    setMCDropoutSeed(seed);
    const full = model.predict(x) as tf.Tensor;
    setMCDropoutSeed(seed);
    const same = viaSplit();
    setMCDropoutSeed(otherSeed);
    const other = viaSplit();
    const diffs = { same: maxDiff(full, same), other: maxDiff(full, other) };
    tf.dispose([full, same, other]);
    return diffs;
  } finally {
    setMCMode(model, false);
    setMCDropoutSeed(undefined);
  }
}
