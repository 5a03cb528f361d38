/**
 * Fused training-mode kernels for the layers that dominate a training step after the convolutions, used while the
 * trainer runs a step on the native TensorFlow backend (tfjs-node, tfjs-node-gpu):
 *
 * - batch normalisation: tfjs-layers computes batch statistics with `moments` and normalises with `batchNorm`; its
 *   gradient is then the tape's chain through both (≈ 25 element-wise ops, one of them a full-size `tile`). Here
 *   the forward pass is TensorFlow's `FusedBatchNormV3` (training mode) and the backward pass one
 *   `FusedBatchNormGradV3`, the kernels PyTorch's CPU batch norm is the equivalent of;
 * - ReLU: tfjs' gradient is `dy · step(x)`, and tfjs-node builds `step` from four kernels (IsNan, Greater, Fill,
 *   Select); here it is TensorFlow's one `ReluGrad`.
 *
 * The layers themselves are not changed: `withFusedTraining(model, fn)` gives the model's stock BatchNormalization
 * and ReLU layers a fused `call` for the duration of `fn` (synchronous, so nothing else can run the model in
 * between) and restores the stock one afterwards. Calls with `training` false go to the stock code unchanged.
 * The numbers are the same up to float rounding (moving statistics included: tfjs-layers keeps the biased batch
 * variance, TensorFlow's op returns the unbiased one, which is scaled back).
 */
import * as tf from '@tensorflow/tfjs';
import { asNativeBackend, floatTypeAttr, NATIVE_BACKEND, nativeKernelsActive, type NativeAttr, type NativeBackend } from '../nativeKernels';

const BATCH_NORM_TRAINING = 'EchoFusedBatchNormTraining';
const BATCH_NORM_TRAINING_GRAD = 'EchoFusedBatchNormTrainingGrad';
const RELU = 'EchoRelu';
const RELU_GRAD = 'EchoReluGrad';
function batchNormAttrs(backend: NativeBackend, epsilon: number): NativeAttr[] {
  const { binding } = backend;
  return [
    floatTypeAttr(backend, 'T'),
    floatTypeAttr(backend, 'U'),
    { name: 'epsilon', type: binding.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: binding.TF_ATTR_BOOL, value: true },
  ];
}

let registered = false;

/** Registers the four kernels and the two gradients once (for the native backend only). */
function registerFusedKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: BATCH_NORM_TRAINING,
    backendName: NATIVE_BACKEND,
    // Outputs: y, batch mean, batch variance (unbiased), and the three reserve spaces the gradient reads.
    kernelFunc: ({ inputs, backend, attrs }) => {
      const native = asNativeBackend(backend);
      const { x, scale, offset } = inputs as { x: tf.Tensor; scale: tf.Tensor; offset: tf.Tensor };
      const empty = tf.tensor1d([], 'float32');
      try {
        return native.executeMultipleOutputs('FusedBatchNormV3', [
          ...batchNormAttrs(native, attrs!.epsilon as number),
          { name: 'exponential_avg_factor', type: native.binding.TF_ATTR_FLOAT, value: 1 },
        ], [x, scale, offset, empty, empty], 6);
      } finally {
        empty.dispose();
      }
    },
  });
  tf.registerKernel({
    kernelName: BATCH_NORM_TRAINING_GRAD,
    backendName: NATIVE_BACKEND,
    // Outputs: dx, dscale, doffset.
    kernelFunc: ({ inputs, backend, attrs }) => {
      const native = asNativeBackend(backend);
      const { dy, x, scale, reserve1, reserve2, reserve3 } = inputs as Record<string, tf.Tensor>;
      const outputs = native.executeMultipleOutputs('FusedBatchNormGradV3', batchNormAttrs(native, attrs!.epsilon as number),
        [dy, x, scale, reserve1, reserve2, reserve3], 5);
      tf.dispose(outputs.slice(3));
      return outputs.slice(0, 3);
    },
  });
  tf.registerGradient({
    kernelName: BATCH_NORM_TRAINING,
    inputsToSave: ['x', 'scale'],
    outputsToSave: [false, false, false, true, true, true],
    gradFunc: (dys, saved, attrs) => {
      const [x, scale, reserve1, reserve2, reserve3] = saved;
      const dy = Array.isArray(dys) ? dys[0] : dys;
      const [dx, dscale, doffset] = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD,
        { dy, x, scale, reserve1, reserve2, reserve3 }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      return { x: () => dx, scale: () => dscale, offset: () => doffset };
    },
  });
  tf.registerKernel({
    kernelName: RELU,
    backendName: NATIVE_BACKEND,
    kernelFunc: ({ inputs, backend }) => {
      const native = asNativeBackend(backend);
      return native.executeSingleOutput('Relu', [floatTypeAttr(native, 'T')], [inputs.x!]);
    },
  });
  tf.registerKernel({
    kernelName: RELU_GRAD,
    backendName: NATIVE_BACKEND,
    kernelFunc: ({ inputs, backend }) => {
      const native = asNativeBackend(backend);
      // ReluGrad passes dy where its `features` input is > 0; the output y is > 0 exactly where x is.
      return native.executeSingleOutput('ReluGrad', [floatTypeAttr(native, 'T')], [inputs.dy!, inputs.y!]);
    },
  });
  tf.registerGradient({
    kernelName: RELU,
    outputsToSave: [true],
    gradFunc: (dy, saved) => ({ x: () => tf.engine().runKernel(RELU_GRAD, { dy: dy as tf.Tensor, y: saved[0] }) as tf.Tensor }),
  });
}

/** tfjs-layers' BatchNormalization internals read here (private in its typings). */
interface BatchNormInternals {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma?: tf.LayerVariable;
  beta?: tf.LayerVariable;
  movingMean?: tf.LayerVariable;
  movingVariance?: tf.LayerVariable;
}

type LayerCall = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}

/** A fused training-mode call for a stock BatchNormalization over the last axis of rank-4 input, else undefined. */
function fusedBatchNormCall(layer: tf.layers.Layer, stock: LayerCall): LayerCall | undefined {
  if (layer.getClassName() !== 'BatchNormalization') return undefined;
  const bn = layer as unknown as BatchNormInternals;
  const { gamma, beta, movingMean, movingVariance } = bn;
  if (!bn.center || !bn.scale || !gamma || !beta || !movingMean || !movingVariance) return undefined;
  const decay = 1 - bn.momentum;
  return (inputs, kwargs) => {
    const x = single(inputs);
    const lastAxis = bn.axis === -1 || bn.axis === x.rank - 1;
    if (kwargs.training !== true || x.rank !== 4 || !lastAxis || x.dtype !== 'float32') return stock(inputs, kwargs);
    return tf.tidy(() => {
      const [y, mean, unbiasedVariance] = tf.engine().runKernel(BATCH_NORM_TRAINING,
        { x, scale: gamma.read(), offset: beta.read() }, { epsilon: bn.epsilon }) as tf.Tensor[];
      const count = x.size / x.shape[x.rank - 1]!;
      const variance = count > 1 ? tf.mul(unbiasedVariance, (count - 1) / count) : unbiasedVariance;
      // tfjs-layers' moving average, term for term: moving ← moving − (moving − batch) · (1 − momentum).
      for (const [variable, value] of [[movingMean, mean], [movingVariance, variance]] as const) {
        const current = variable.read();
        variable.write(tf.sub(current, tf.mul(tf.sub(current, value), decay)));
      }
      return y;
    });
  };
}

function isPlainRelu(layer: tf.layers.Layer): boolean {
  const name = layer.getClassName();
  if (name === 'Activation') return (layer.getConfig().activation as unknown) === 'relu';
  return name === 'ReLU' && (layer.getConfig().maxValue ?? null) === null;
}

function fusedReluCall(layer: tf.layers.Layer, stock: LayerCall): LayerCall | undefined {
  if (!isPlainRelu(layer)) return undefined;
  return (inputs, kwargs) => {
    const x = single(inputs);
    if (kwargs.training !== true || x.dtype !== 'float32') return stock(inputs, kwargs);
    return tf.engine().runKernel(RELU, { x }) as tf.Tensor;
  };
}

/** Every layer of the model, nested models' layers included. */
function allLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  const visit = (layers: tf.layers.Layer[]) => {
    for (const layer of layers) {
      if (layer instanceof tf.LayersModel) visit(layer.layers);
      else out.push(layer);
    }
  };
  visit(model.layers);
  return out;
}

/** True when the fused kernels can run: the native TensorFlow backend is active. */
export function fusedTrainingAvailable(): boolean {
  return nativeKernelsActive();
}

/**
 * Runs `fn` (synchronous) with the model's batch-norm and ReLU layers computing their training-mode pass with
 * fused native kernels; restores the stock layers afterwards, also when `fn` throws. On another backend `fn` runs
 * with the stock layers.
 */
export function withFusedTraining<T>(model: tf.LayersModel, fn: () => T): T {
  if (!fusedTrainingAvailable()) return fn();
  registerFusedKernels();
  const patched: tf.layers.Layer[] = [];
  try {
    for (const layer of allLayers(model)) {
      if (Object.prototype.hasOwnProperty.call(layer, 'call')) continue;
      const stock = layer.call.bind(layer) as LayerCall;
      const fused = fusedBatchNormCall(layer, stock) ?? fusedReluCall(layer, stock);
      if (!fused) continue;
      (layer as unknown as { call: LayerCall }).call = fused;
      patched.push(layer);
    }
    return fn();
  } finally {
    for (const layer of patched) delete (layer as unknown as { call?: LayerCall }).call;
  }
}
