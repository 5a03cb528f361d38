/**
 * One optimizer step of the trainer (Dice + CE, Adam), in its fast form by default:
 * - fused batch-norm and ReLU kernels in the training-mode pass (ml/train/fusedLayers.ts) on the native backend;
 * - Adam as one pass per variable (ml/train/adam.ts) where tensors live in host memory (not on tfjs-node-gpu,
 *   where it would copy every gradient off the GPU).
 * `fused: false` is tfjs' stock path (the stock layers and tf.train.adam), kept for comparisons and tests.
 */
import * as tf from '@tensorflow/tfjs';
import { currentBackend } from '../backend';
import { FusedAdamOptimizer } from './adam';
import { withFusedTraining } from './fusedLayers';
import { segmentationLoss } from './losses';

export interface TrainStepOptions {
  learningRate: number;
  /** Default true: fused layers and the one-pass Adam where they apply; false: tfjs' stock kernels and Adam. */
  fused?: boolean;
  /** Overrides the Adam choice alone (default: as `fused`), to measure the two parts separately. */
  onePassAdam?: boolean;
}

export interface TrainStep {
  /** Holds Adam's state (checkpointed by the trainer). */
  optimizer: tf.Optimizer;
  /** The training-mode forward pass (batch statistics, dropout on), as the step runs it. */
  forward(x: tf.Tensor4D): tf.Tensor4D;
  /** The loss and the gradients of every trainable weight, without updating anything but batch-norm statistics. */
  gradients(x: tf.Tensor4D, y: tf.Tensor4D): { loss: tf.Scalar; grads: tf.NamedTensorMap };
  /** Forward, backward and the Adam update; returns the batch's loss (the caller disposes it). */
  run(x: tf.Tensor4D, y: tf.Tensor4D): tf.Scalar;
  dispose(): void;
}

/** Adam with tfjs' defaults (β1 0.9, β2 0.999, ε = the backend's epsilon), one-pass where the backend allows. */
export function createAdam(learningRate: number, fused = true): tf.Optimizer {
  return fused && currentBackend() !== 'tfjs-node-gpu' ? new FusedAdamOptimizer(learningRate) : tf.train.adam(learningRate);
}

export function createTrainStep(model: tf.LayersModel, opts: TrainStepOptions): TrainStep {
  const fused = opts.fused ?? true;
  const optimizer = createAdam(opts.learningRate, opts.onePassAdam ?? fused);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const inMode = <T>(fn: () => T): T => (fused ? withFusedTraining(model, fn) : fn());
  const lossOf = (x: tf.Tensor4D, y: tf.Tensor4D) => segmentationLoss(y, model.apply(x, { training: true }) as tf.Tensor4D);
  return {
    optimizer,
    forward: (x) => inMode(() => model.apply(x, { training: true }) as tf.Tensor4D),
    gradients: (x, y) => {
      const { value, grads } = inMode(() => tf.variableGrads(() => lossOf(x, y), variables));
      return { loss: value, grads };
    },
    run: (x, y) => inMode(() => tf.tidy(() => optimizer.minimize(() => lossOf(x, y), true, variables) as tf.Scalar)),
    dispose: () => optimizer.dispose(),
  };
}
