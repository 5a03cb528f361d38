/**
 * Loads an exported segmentation package (`client.ts export`) and runs it. It imports TensorFlow.js, the project's
 * custom layers (their registration is what lets tfjs rebuild the saved topology) and the shared inference
 * geometry — nothing else of the project: no services, no model zoo.
 *
 *   const seg = await loadSegmentationModel('lv-model');           // model.json, weights.bin, metadata.json
 *   const mask = seg.predictMask({ width, height, data });          // grey in [0, 1], any size → 0/1 mask, same size
 *   const masks = seg.predictMasks([{ image, crop }, …]);           // one batch; crop = the ultrasound region
 *
 * Masks equal `client.ts predict`'s for the same images in the same batches (native TensorFlow may round the last
 * bits of a probability differently for another batch size; `predict --batch 1` matches `predictMask` exactly).
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ModelPackageMetadata } from '../contracts/predict';
import '../ml/layers';
import { importNativePackage } from '../ml/nativeLoad';
import { type FrameRegion, type GreyFrame, inputSizeOf, predictFrameMasks } from '../ml/inference';

export type { FrameRegion, GreyFrame, ModelPackageMetadata };

export interface SegmentationPackage {
  model: tf.LayersModel;
  metadata: ModelPackageMetadata;
  /** [height, width] the model takes; other sizes are resized (Lanczos-3) on the way in and back. */
  inputSize: [number, number];
  /** The TensorFlow.js backend in use ('tensorflow' = native). */
  backend: string;
  /** The LV mask of one grey image (row-major, [0, 1]) at its own size: 0/1 per pixel; outside `crop`, 0. */
  predictMask(image: GreyFrame, options?: { crop?: FrameRegion }): Uint8Array;
  /** Masks of several images in one batch. */
  predictMasks(images: readonly { image: GreyFrame; crop?: FrameRegion }[]): Uint8Array[];
  dispose(): void;
}

export interface LoadOptions {
  /**
   * 'auto' (default): native TensorFlow (`@tensorflow/tfjs-node`) when its addon is built, else the backend already
   * active; 'current': whatever backend is active.
   */
  backend?: 'auto' | 'current';
}

async function useNativeBackend(): Promise<void> {
  if (tf.getBackend() === 'tensorflow') return;
  for (const specifier of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const) {
    if (await importNativePackage(specifier, (reason) => console.warn(`warning: ${reason}`))) return;
  }
}

/** A tfjs IOHandler reading `model.json` and its weight files from a folder. */
function folderHandler(dir: string): tf.io.IOHandler {
  return {
    async load() {
      const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const buffers = manifest.flatMap((group) => group.paths.map((p) => fs.readFileSync(path.join(dir, p))));
        const joined = Buffer.concat(buffers);
        return [specs, joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer];
      });
    },
  };
}

/** Loads the package in `dir` and returns the model, its metadata and the mask helpers. */
export async function loadSegmentationModel(dir: string, options: LoadOptions = {}): Promise<SegmentationPackage> {
  const metadataFile = path.join(dir, 'metadata.json');
  if (!fs.existsSync(path.join(dir, 'model.json'))) {
    const onnx = fs.existsSync(path.join(dir, 'model.onnx')) ? ' (its model.onnx is for ONNX Runtime: `client.ts predict --package` runs it, or any ONNX runtime)' : '';
    throw new Error(`${dir} has no model.json: is it a package written by \`client.ts export\`?${onnx}`);
  }
  if ((options.backend ?? 'auto') === 'auto') await useNativeBackend();
  await tf.ready();
  const model = await tf.loadLayersModel(folderHandler(dir));
  const metadata = fs.existsSync(metadataFile) ? (JSON.parse(fs.readFileSync(metadataFile, 'utf8')) as ModelPackageMetadata) : undefined;
  if (!metadata) {
    model.dispose();
    throw new Error(`${dir} has no metadata.json: is it a package written by \`client.ts export\`?`);
  }
  const threshold = metadata.output.threshold;
  const predictMasks = (images: readonly { image: GreyFrame; crop?: FrameRegion }[]) =>
    predictFrameMasks(model, images.map(({ image, crop }) => ({ frame: image, crop })), threshold);
  return {
    model,
    metadata,
    inputSize: inputSizeOf(model).size,
    backend: tf.getBackend(),
    predictMask: (image, maskOptions = {}) => predictMasks([{ image, crop: maskOptions.crop }])[0],
    predictMasks,
    dispose: () => model.dispose(),
  };
}
