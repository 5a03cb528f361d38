/**
 * One optimizer step of the trainer (Dice + CE, Adam), in its fast form by default on tfjs-node:
 * - fused batch-norm and ReLU kernels in the training-mode pass (ml/train/fusedLayers.ts);
 * - Adam as TensorFlow's fused `ResourceApplyAdam` kernel (ml/train/nativeAdam.ts): Unet-resnet34's update takes
 *   ≈ 70 ms instead of tfjs' ≈ 350 ms (14 element-wise kernels per variable).
 * `fused: false` is tfjs' stock path (the stock layers and tf.train.adam), kept for comparisons and tests; on other
 * backends (tfjs-node-gpu included, where the native Adam is untested) Adam is tf.train.adam.
 *
 * `adam: 'one-pass'` is the single JavaScript loop of ml/train/adam.ts, kept for comparison: one thread, so it
 * measured no faster than tfjs' Adam here (Unet-resnet34 on 2 cores: 420 vs 355 ms per update).
 */
import * as tf from '@tensorflow/tfjs';
import { currentBackend } from '../backend';
import { nativeKernelsActive } from '../nativeKernels';
import { FusedAdamOptimizer } from './adam';
import { NativeAdamOptimizer } from './nativeAdam';
import { withFusedTraining } from './fusedLayers';
import { segmentationLoss } from './losses';

export interface TrainStepOptions {
  learningRate: number;
  /** Default true: fused layers and the native Adam where they apply; false: tfjs' stock kernels and Adam. */
  fused?: boolean;
  /** Overrides the Adam choice alone (default: 'native' when `fused`, else 'tfjs'), to measure the parts separately. */
  adam?: AdamKind;
}

export interface TrainStep {
  /** Holds Adam's state (checkpointed by the trainer). */
  optimizer: tf.Optimizer;
  /** The training-mode forward pass (batch statistics, dropout on), as the step runs it. */
  forward(x: tf.Tensor4D): tf.Tensor4D;
  /** The loss and the gradients of every trainable weight, without updating anything but batch-norm statistics. */
  gradients(x: tf.Tensor4D, y: tf.Tensor4D): { loss: tf.Scalar; grads: tf.NamedTensorMap };
  /**
   * Forward, backward and the Adam update; returns the batch's loss (the caller disposes it). `extra` adds a term to
   * the loss, computed inside the same gradient tape (mean teacher's consistency on unlabelled images).
   */
  run(x: tf.Tensor4D, y: tf.Tensor4D, extra?: () => tf.Scalar): tf.Scalar;
  dispose(): void;
}

/** Which Adam implementation runs the update (all with tfjs' defaults and checkpoint layout). */
export type AdamKind = 'native' | 'tfjs' | 'one-pass';

/**
 * Adam with tfjs' defaults (β1 0.9, β2 0.999, ε = the backend's epsilon): `kind` where the backend allows it
 * ('native' needs tfjs-node; 'one-pass' host memory, i.e. not tfjs-node-gpu), else tfjs' own.
 */
export function createAdam(learningRate: number, kind: AdamKind = 'native'): tf.Optimizer {
  const backend = currentBackend();
  if (kind === 'native' && backend === 'tfjs-node' && nativeKernelsActive()) return new NativeAdamOptimizer(learningRate);
  if (kind === 'one-pass' && backend !== 'tfjs-node-gpu') return new FusedAdamOptimizer(learningRate);
  return tf.train.adam(learningRate);
}

export function createTrainStep(model: tf.LayersModel, opts: TrainStepOptions): TrainStep {
  const fused = opts.fused ?? true;
  const optimizer = createAdam(opts.learningRate, opts.adam ?? (fused ? 'native' : 'tfjs'));
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const inMode = <T>(fn: () => T): T => (fused ? withFusedTraining(model, fn) : fn());
  const lossOf = (x: tf.Tensor4D, y: tf.Tensor4D, extra?: () => tf.Scalar) => {
    const loss = segmentationLoss(y, model.apply(x, { training: true }) as tf.Tensor4D);
    return extra ? tf.add(loss, extra()) as tf.Scalar : loss;
  };
  return {
    optimizer,
    forward: (x) => inMode(() => model.apply(x, { training: true }) as tf.Tensor4D),
    gradients: (x, y) => {
      const { value, grads } = inMode(() => tf.variableGrads(() => lossOf(x, y), variables));
      return { loss: value, grads };
    },
    run: (x, y, extra) => inMode(() => tf.tidy(() => optimizer.minimize(() => lossOf(x, y, extra), true, variables) as tf.Scalar)),
    dispose: () => optimizer.dispose(),
  };
}
