/**
 * ONNX Runtime (`onnxruntime-node`, CPU) as the prediction engine: the trained tfjs model is converted in-process with
 * `exportOnnx` (no Python, no file) and run by an InferenceSession, or an exported `model.onnx` is run directly. The
 * engine takes and gives what the tfjs model does — NHWC float32 grey in [0, 1] in, [batch, H, W, classes]
 * probabilities out — so `ml/predict.ts` thresholds and resizes its output exactly as tfjs'.
 *
 * Device: the CPU, or CUDA with `ONNX_PROVIDER=cuda` on a host where onnxruntime-node was installed with its CUDA
 * binaries; training stays on tfjs (tfjs-node-gpu on such hosts).
 *
 * Threads: the session's intra-op pool gets TensorFlow's intra-op count (TF_NUM_INTRAOP_THREADS, default the CPU
 * count; ml/backend.ts), so that comparing the engines compares kernels, not thread counts. The graph is a chain of
 * operators, so ONNX Runtime's sequential execution mode is used and its inter-op pool stays unused.
 *
 * MC dropout (`predict --uncertainty`): the uncertainty model's deterministic prefix (ml/zoo/mcSplit.ts) runs here
 * once per batch, the stochastic tail stays in tfjs with its seeded masks (`onnxMcPrefix`), for `head` and `decoder`
 * dropout alike.
 */
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { loadConfig } from '../../config';
import { tfThreadCounts } from '../../ml/backend';
import type { MCPrefixEngine, SegmentationEngine } from '../../ml/predict';
import type { SegmentationNet } from '../../ml/zoo';
import { packageMetadata } from '../package';
import { exportOnnx, exportOnnxMcPrefix, mcPrefixOutputNames } from './index';
import { INPUT_NAME, OUTPUT_NAME } from './proto';

/**
 * An InferenceSession of an ONNX model (bytes or a file) on `ONNX_PROVIDER`'s device (the CPU by default; with `cuda`,
 * CUDA first and the CPU for any operator CUDA lacks), with TensorFlow's intra-op thread count.
 */
export async function createOnnxSession(model: Uint8Array | string): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: loadConfig().onnxProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    intraOpNumThreads: tfThreadCounts().intraOp,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

/** A session as the prediction engine of a model taking [batch, ...inputShape]. */
export function sessionEngine(session: ort.InferenceSession, inputShape: readonly [number, number, number]): SegmentationEngine {
  return {
    name: 'onnx',
    inputShape,
    async probabilities(inputs) {
      const data = (await inputs.data()) as Float32Array;
      const result = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', data, inputs.shape) });
      const output = result[OUTPUT_NAME];
      try {
        return tf.tensor4d(output.data as Float32Array, output.dims as [number, number, number, number]);
      } finally {
        output.dispose();
      }
    },
    dispose: () => void session.release(),
  };
}

/** The ONNX Runtime engine of a loaded zoo model: converted in-process (the net stays the caller's). */
export async function onnxEngine(net: SegmentationNet): Promise<SegmentationEngine> {
  const bytes = exportOnnx(net.model, net.config, packageMetadata(net.config, { modelKey: 'in-process' }, undefined));
  const [height, width, channels] = net.config.inputShape;
  return sessionEngine(await createOnnxSession(bytes), [height, width, channels]);
}

/**
 * ONNX Runtime for the MC prefix of an uncertainty model (a net built with dropout), converted in-process: one output
 * per deterministic tensor the tail reads (with `decoder` dropout several, among them the deterministic halves of the
 * convolutions split over encoder skips), returned in the prefix's output order.
 */
export async function onnxMcPrefix(net: SegmentationNet): Promise<MCPrefixEngine> {
  const { prefix } = net.mcSplit();
  const names = mcPrefixOutputNames(prefix.outputs.length);
  const session = await createOnnxSession(exportOnnxMcPrefix(prefix, net.config, packageMetadata(net.config, { modelKey: 'in-process MC prefix' }, undefined)));
  return {
    async run(images) {
      const data = (await images.data()) as Float32Array;
      const result = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', data, images.shape) });
      return names.map((name) => {
        const output = result[name];
        try {
          return tf.tensor(output.data as Float32Array, output.dims as number[]);
        } finally {
          output.dispose();
        }
      });
    },
    dispose: () => void session.release(),
  };
}
