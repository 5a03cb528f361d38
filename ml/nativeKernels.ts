/**
 * Calling TensorFlow's own kernels directly through tfjs-node's backend (ml/train/fusedLayers.ts, ml/train/
 * nativeAdam.ts, the grouped convolution of ml/layers/torchConv2d.ts): the backend's name, whether it is active,
 * and the parts of its NodeJSKernelBackend used (the package is not imported: ml/backend.ts loads it on demand).
 */
import * as tf from '@tensorflow/tfjs';

/** tfjs-node and tfjs-node-gpu both register as 'tensorflow'. */
export const NATIVE_BACKEND = 'tensorflow';

/** True when TensorFlow's kernels can be called directly: tfjs-node or tfjs-node-gpu is the active backend. */
export function nativeKernelsActive(): boolean {
  return tf.getBackend() === NATIVE_BACKEND;
}

export interface NativeAttr {
  name: string;
  type: number;
  value: unknown;
}

export interface NativeBackend {
  binding: {
    TF_ATTR_TYPE: number; TF_ATTR_FLOAT: number; TF_ATTR_STRING: number; TF_ATTR_BOOL: number; TF_ATTR_SHAPE: number;
    TF_FLOAT: number;
  };
  executeSingleOutput(name: string, attrs: NativeAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: NativeAttr[], inputs: tf.TensorInfo[], outputs: number): tf.Tensor[];
}

/** The active backend as a NativeBackend (check `nativeKernelsActive()` first), or a kernel's `backend` argument. */
export function asNativeBackend(backend: unknown = tf.backend()): NativeBackend {
  return backend as NativeBackend;
}

/** The float32 type attribute `name` (e.g. 'T', 'dtype'). */
export function floatTypeAttr(backend: NativeBackend, name: string): NativeAttr {
  return { name, type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT };
}
