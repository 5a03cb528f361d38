/**
 * The fast training step (ml/train/step.ts): fused batch-norm / ReLU kernels and the native and one-pass Adams give the stock
 * tfjs results up to float rounding, really run (kernel names in the profile), and leave the model as they found it.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import { FusedAdamOptimizer } from '../../ml/train/adam';
import { NativeAdamOptimizer } from '../../ml/train/nativeAdam';
import { withFusedTraining } from '../../ml/train/fusedLayers';
import { createTrainStep } from '../../ml/train/step';

beforeAll(async () => {
  await initBackend('auto', () => {});
  // The fused kernels are TensorFlow ops: these tests are about the native backend, which the project requires.
  expect(tf.getBackend()).toBe('tensorflow');
});

/** conv → BN → ReLU → conv → BN → Activation('relu') → add → 1×1 sigmoid head; seeded, so two calls build the same net. */
function net(): tf.LayersModel {
  const input = tf.input({ shape: [24, 24, 3] });
  const conv = (name: string, filters: number, seed: number) =>
    tf.layers.conv2d({ name, filters, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed }) });
  const a = tf.layers.reLU({ name: 'r1' }).apply(tf.layers.batchNormalization({ name: 'bn1', momentum: 0.8 }).apply(conv('c1', 8, 1).apply(input))) as tf.SymbolicTensor;
  const b = tf.layers.activation({ name: 'r2', activation: 'relu' })
    .apply(tf.layers.batchNormalization({ name: 'bn2', epsilon: 1e-5 }).apply(conv('c2', 8, 2).apply(a))) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([a, b]) as tf.SymbolicTensor;
  const out = tf.layers.conv2d({ name: 'head', filters: 1, kernelSize: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) })
    .apply(sum) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

const x = () => tf.randomNormal([4, 24, 24, 3], 0.3, 1, 'float32', 7) as tf.Tensor4D;
const y = () => tf.randomUniform([4, 24, 24, 1], 0, 1, 'float32', 8).round() as tf.Tensor4D;

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / Math.max(1e-12, tf.max(tf.abs(a)).dataSync()[0]));
}

describe('fused batch-norm and ReLU', () => {
  it('give the stock loss, gradients and moving statistics', () => {
    const [stock, fused] = [net(), net()];
    const [xs, ys] = [x(), y()];
    const a = createTrainStep(stock, { learningRate: 1e-3, fused: false }).gradients(xs, ys);
    const b = createTrainStep(fused, { learningRate: 1e-3, fused: true }).gradients(xs, ys);
    expect(b.loss.dataSync()[0]).toBeCloseTo(a.loss.dataSync()[0], 5);
    const [ga, gb] = [Object.values(a.grads), Object.values(b.grads)];
    expect(gb).toHaveLength(ga.length);
    ga.forEach((g, i) => expect(maxRelDiff(g, gb[i])).toBeLessThan(1e-4));
    // Moving mean and variance moved the same way (they are not trainable, so not in the gradients).
    stock.getWeights().forEach((w, i) => expect(maxRelDiff(w, fused.getWeights()[i])).toBeLessThan(1e-5));
    expect(maxRelDiff(stock.getLayer('bn1').getWeights()[3], tf.onesLike(stock.getLayer('bn1').getWeights()[3]))).toBeGreaterThan(1e-3);
  });

  it('run as one native kernel each, instead of the tape chain and tfjs-node’s composite step', async () => {
    const model = net();
    const step = createTrainStep(model, { learningRate: 1e-3 });
    const [xs, ys] = [x(), y()];
    const kernels = async (run: () => void) => new Set((await tf.profile(run)).kernels.map((k) => k.name));
    const fused = await kernels(() => void step.gradients(xs, ys));
    expect(fused.has('EchoFusedBatchNormTraining') && fused.has('EchoFusedBatchNormTrainingGrad')).toBe(true);
    expect(fused.has('EchoRelu') && fused.has('EchoReluGrad')).toBe(true);
    expect(fused.has('Step') || fused.has('Tile')).toBe(false);
    const stock = await kernels(() => void createTrainStep(model, { learningRate: 1e-3, fused: false }).gradients(xs, ys));
    expect(stock.has('Step') && stock.has('Tile') && !stock.has('EchoRelu')).toBe(true);
  });

  it('leave inference alone and put the stock layers back, also after an error', () => {
    const model = net();
    const xs = x();
    const before = model.predict(xs) as tf.Tensor;
    const inside = withFusedTraining(model, () => model.predict(xs) as tf.Tensor);
    expect(Array.from(inside.dataSync())).toEqual(Array.from(before.dataSync()));
    expect(() => withFusedTraining(model, () => {
      expect(Object.prototype.hasOwnProperty.call(model.getLayer('bn1'), 'call')).toBe(true);
      throw new Error('boom');
    })).toThrow('boom');
    expect(model.layers.some((l) => Object.prototype.hasOwnProperty.call(l, 'call'))).toBe(false);
  });
});

/** tfjs types Adam's gradients as variables; any tensors do. */
const asVariableMap = (grads: tf.NamedTensorMap) => grads as unknown as Parameters<tf.AdamOptimizer['applyGradients']>[0];

/**
 * Name, class, the error for a state that does not fit, and the relative tolerance against tfjs' Adam: TensorFlow's
 * kernel folds the bias corrections into the step size (in float32), so it rounds differently from tfjs' formula.
 */
const ADAMS: [string, new (lr: number) => FusedAdamOptimizer | NativeAdamOptimizer, RegExp, number][] = [
  ['one-pass Adam', FusedAdamOptimizer, /has 180 values but .* has 5/, 1e-5],
  ['native Adam (ResourceApplyAdam)', NativeAdamOptimizer, /has shape \[3,3,4,5\] but .* has \[5\]/, 5e-5],
];

/** Variable sets made so far (variable names are process-wide). */
let made = 0;

for (const [label, Adam, mismatch, tolerance] of ADAMS) describe(label, () => {
  /** Two variables (named like layer weights: numeric names would reorder the gradient maps) and their gradients per step. */
  function variablesAndGrads(seed: number) {
    made += 1;
    const vars = [
      tf.variable(tf.randomNormal([3, 3, 4, 5], 0, 1, 'float32', seed), true, `set${made}/kernel`),
      tf.variable(tf.randomNormal([5], 0, 1, 'float32', seed + 1), true, `set${made}/bias`),
    ];
    const grads = (step: number): tf.NamedTensorMap =>
      Object.fromEntries(vars.map((v, i) => [v.name, tf.randomNormal(v.shape, 0, 0.1, 'float32', 100 * step + i + 1)]));
    return { vars, grads };
  }

  it('makes the updates of tfjs’ Adam, and its state moves between the two', async () => {
    const stock = variablesAndGrads(1);
    const fused = variablesAndGrads(1);
    const [a, b] = [tf.train.adam(1e-2), new Adam(1e-2)];
    for (let t = 0; t < 4; t++) {
      a.applyGradients(asVariableMap(stock.grads(t)));
      b.applyGradients(fused.grads(t));
    }
    stock.vars.forEach((v, i) => expect(maxRelDiff(v, fused.vars[i])).toBeLessThan(tolerance));
    expect(b.iterations).toBe(4);
    const [wa, wb] = [await a.getWeights(), await b.getWeights()];
    expect(wb.map((w) => [w.name.replace(/^.*\//, ''), w.tensor.shape])).toEqual(wa.map((w) => [w.name.replace(/^.*\//, ''), w.tensor.shape]));
    wa.slice(1).forEach((w, i) => expect(maxRelDiff(w.tensor, wb[i + 1].tensor)).toBeLessThan(tolerance));
    // tfjs' state into the one-pass Adam: the next step matches tfjs' own next step.
    const c = new Adam(1e-2);
    await c.setWeights(wa);
    const next = stock.grads(4);
    const copy = variablesAndGrads(1).vars;
    copy.forEach((v, i) => v.assign(stock.vars[i]));
    c.applyGradients(Object.fromEntries(copy.map((v, i) => [v.name, Object.values(next)[i]])));
    a.applyGradients(asVariableMap(next));
    stock.vars.forEach((v, i) => expect(maxRelDiff(v, copy[i])).toBeLessThan(tolerance));
  });

  it('continues exactly from its saved state (bias corrections from the step number)', async () => {
    const straight = variablesAndGrads(2);
    const resumed = variablesAndGrads(2);
    const a = new Adam(1e-2);
    for (let t = 0; t < 5; t++) a.applyGradients(straight.grads(t));
    const first = new Adam(1e-2);
    for (let t = 0; t < 2; t++) first.applyGradients(resumed.grads(t));
    const saved = await first.getWeights();
    const second = new Adam(1e-2);
    await second.setWeights(saved);
    for (let t = 2; t < 5; t++) second.applyGradients(resumed.grads(t));
    straight.vars.forEach((v, i) => expect(Array.from(resumed.vars[i].dataSync())).toEqual(Array.from(v.dataSync())));
  });

  it('says which variable does not fit the restored state', async () => {
    const { vars, grads } = variablesAndGrads(3);
    const other = variablesAndGrads(4);
    const source = new Adam(1e-2);
    source.applyGradients(grads(0));
    const state = await source.getWeights();
    const target = new Adam(1e-2);
    await target.setWeights(state);
    const swapped = Object.fromEntries([[other.vars[1].name, grads(1)[vars[1].name]], [other.vars[0].name, grads(1)[vars[0].name]]]);
    expect(() => target.applyGradients(swapped)).toThrow(mismatch);
  });

  it('reads the variables as they are at each update and leaves no tensors behind', () => {
    const a = variablesAndGrads(5);
    const b = variablesAndGrads(5);
    const [x, y] = [new Adam(1e-2), tf.train.adam(1e-2)];
    x.applyGradients(a.grads(0));
    y.applyGradients(asVariableMap(b.grads(0)));
    // Someone else (a checkpoint restore, say) writes a weight between two updates.
    a.vars[0].assign(tf.onesLike(a.vars[0]));
    b.vars[0].assign(tf.onesLike(b.vars[0]));
    const before = tf.memory().numTensors;
    for (let t = 1; t < 4; t++) tf.tidy(() => {
      x.applyGradients(a.grads(t));
      y.applyGradients(asVariableMap(b.grads(t)));
    });
    b.vars.forEach((v, i) => expect(maxRelDiff(v, a.vars[i])).toBeLessThan(tolerance));
    expect(tf.memory().numTensors).toBe(before);
  });
});
