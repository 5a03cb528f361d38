/**
 * The geometry of applying a segmentation model to an image of any size, in TensorFlow.js alone, so the package
 * loader needs nothing else and `predict` computes exactly what the loader computes:
 *
 *   frame (grey in [0, 1], any size) → crop region → Lanczos-3 resize to the model's input → model → foreground
 *   (p > threshold) → nearest-neighbour resize back to the crop region → pasted into a background frame of the
 *   original size.
 *
 * Lanczos-3 is what the importers resize with (libvips through sharp), so images reach the model as the training
 * images did; here it is two small matrix products per image (rows, then columns), with the support widened by the
 * scale when shrinking, as libvips does.
 */
import * as tf from '@tensorflow/tfjs';

/** A grey image: row-major values in [0, 1]. */
export interface GreyFrame {
  width: number;
  height: number;
  data: Float32Array;
}

/** A region of the frame in its pixels. */
export interface FrameRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The foreground threshold of a sigmoid output (the trainer's and the metrics' rule). */
export const FOREGROUND_THRESHOLD = 0.5;

const LANCZOS_LOBES = 3;

function lanczos(x: number): number {
  if (x === 0) return 1;
  if (Math.abs(x) >= LANCZOS_LOBES) return 0;
  const px = Math.PI * x;
  return (LANCZOS_LOBES * Math.sin(px) * Math.sin(px / LANCZOS_LOBES)) / (px * px);
}

const matrices = new Map<string, Float32Array>();

/** Row-major [outSize, inSize] Lanczos-3 weights (pixel centres aligned, edges clamped, rows summing to 1). */
export function lanczosMatrix(inSize: number, outSize: number): Float32Array {
  const cacheKey = `${inSize}>${outSize}`;
  const cached = matrices.get(cacheKey);
  if (cached) return cached;
  const scale = inSize / outSize;
  const stretch = Math.max(1, scale);
  const support = LANCZOS_LOBES * stretch;
  const weights = new Float32Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale - 0.5;
    const row = new Float64Array(inSize);
    let sum = 0;
    for (let j = Math.ceil(centre - support); j <= Math.floor(centre + support); j++) {
      const w = lanczos((j - centre) / stretch);
      if (w === 0) continue;
      row[Math.min(inSize - 1, Math.max(0, j))] += w;
      sum += w;
    }
    for (let j = 0; j < inSize; j++) weights[i * inSize + j] = row[j] / sum;
  }
  if (matrices.size > 64) matrices.clear();
  matrices.set(cacheKey, weights);
  return weights;
}

/** Resizes a grey [H, W] tensor with Lanczos-3 and clips to [0, 1]; the same size is returned as a copy. */
export function resizeGrey(image: tf.Tensor2D, height: number, width: number): tf.Tensor2D {
  const [inHeight, inWidth] = image.shape;
  if (inHeight === height && inWidth === width) return image.clone();
  return tf.tidy(() => {
    const rows = tf.tensor2d(lanczosMatrix(inHeight, height), [height, inHeight]);
    const columns = tf.tensor2d(lanczosMatrix(inWidth, width), [width, inWidth]);
    return tf.matMul(tf.matMul(rows, image), columns, false, true).clipByValue(0, 1) as tf.Tensor2D;
  });
}

function checkRegion(frame: { width: number; height: number }, region: FrameRegion): void {
  const { x, y, width, height } = region;
  const whole = [x, y, width, height].every(Number.isInteger);
  if (!whole || x < 0 || y < 0 || width < 1 || height < 1 || x + width > frame.width || y + height > frame.height) {
    throw new Error(`Crop ${JSON.stringify(region)} does not lie inside the ${frame.width}×${frame.height} frame.`);
  }
}

/** The model's input for one frame: its crop region, resized to [height, width], as [height, width, 1]. */
export function modelInput(frame: GreyFrame, crop: FrameRegion | undefined, size: readonly [number, number]): tf.Tensor3D {
  if (frame.data.length !== frame.width * frame.height) {
    throw new Error(`The image has ${frame.data.length} values; ${frame.width}×${frame.height} needs ${frame.width * frame.height}.`);
  }
  if (crop) checkRegion(frame, crop);
  return tf.tidy(() => {
    const whole = tf.tensor2d(frame.data, [frame.height, frame.width], 'float32');
    const region = crop ? whole.slice([crop.y, crop.x], [crop.height, crop.width]) : whole;
    return resizeGrey(region, size[0], size[1]).expandDims(2) as tf.Tensor3D;
  });
}

/** 0/1 foreground masks [N, H, W] (int32) of model outputs [N, H, W, classes]: p > threshold, or argmax ≠ 0. */
export function foreground(probabilities: tf.Tensor4D, threshold = FOREGROUND_THRESHOLD): tf.Tensor3D {
  return tf.tidy(() => {
    const classes = probabilities.shape[3];
    const mask = classes === 1 ? tf.greater(tf.squeeze(probabilities, [3]), threshold) : tf.notEqual(tf.argMax(probabilities, 3), 0);
    return mask.toInt() as tf.Tensor3D;
  });
}

function nearestIndices(inSize: number, outSize: number): tf.Tensor1D {
  const indices = new Int32Array(outSize);
  for (let i = 0; i < outSize; i++) indices[i] = Math.min(inSize - 1, Math.floor(((i + 0.5) * inSize) / outSize));
  return tf.tensor1d(indices, 'int32');
}

function pasteInto(region: tf.Tensor2D, originalSize: readonly [number, number], crop: FrameRegion | undefined): tf.Tensor2D {
  if (!crop) return region;
  const [height, width] = originalSize;
  return tf.pad(region, [[crop.y, height - crop.y - crop.height], [crop.x, width - crop.x - crop.width]]) as tf.Tensor2D;
}

/**
 * A model-size 0/1 mask [h, w] at the original frame size: nearest-neighbour to the crop region (pixel centres
 * aligned), background everywhere outside it.
 */
export function maskToFrame(mask: tf.Tensor2D, originalSize: readonly [number, number], crop?: FrameRegion): tf.Tensor2D {
  const [regionHeight, regionWidth] = crop ? [crop.height, crop.width] : originalSize;
  if (crop) checkRegion({ width: originalSize[1], height: originalSize[0] }, crop);
  return tf.tidy(() => {
    const [h, w] = mask.shape;
    const rows = h === regionHeight ? mask : tf.gather(mask, nearestIndices(h, regionHeight), 0);
    const resized = w === regionWidth ? rows : tf.gather(rows, nearestIndices(w, regionWidth), 1);
    return pasteInto(resized as tf.Tensor2D, originalSize, crop);
  });
}

/** A model-size float map [h, w] at the original frame size: bilinear to the crop region, 0 outside it. */
export function mapToFrame(map: tf.Tensor2D, originalSize: readonly [number, number], crop?: FrameRegion): tf.Tensor2D {
  const [regionHeight, regionWidth] = crop ? [crop.height, crop.width] : originalSize;
  return tf.tidy(() => {
    const resized = tf.image.resizeBilinear(map.expandDims(2) as tf.Tensor3D, [regionHeight, regionWidth], false, true).squeeze([2]) as tf.Tensor2D;
    return pasteInto(resized, originalSize, crop);
  });
}

/** The model's input size [height, width] and channels, from its input layer. */
export function inputSizeOf(model: tf.LayersModel): { size: [number, number]; channels: number } {
  const shape = model.inputs[0].shape;
  const [, height, width, channels] = shape;
  if (shape.length !== 4 || !height || !width || !channels) throw new Error(`The model's input ${JSON.stringify(shape)} is not [N, H, W, C] with a fixed size.`);
  return { size: [height, width], channels };
}

/**
 * Foreground masks at the original size of frames given with their crops: [N] masks as 0/1 Uint8Arrays. One batch
 * through the model; grey frames go to 3-channel models as three equal channels.
 */
export function predictFrameMasks(
  model: tf.LayersModel,
  frames: readonly { frame: GreyFrame; crop?: FrameRegion }[],
  threshold = FOREGROUND_THRESHOLD,
): Uint8Array[] {
  const { size, channels } = inputSizeOf(model);
  const masks = tf.tidy(() => {
    const grey = tf.stack(frames.map(({ frame, crop }) => modelInput(frame, crop, size))) as tf.Tensor4D;
    const input = channels === 1 ? grey : tf.tile(grey, [1, 1, 1, channels]);
    const binary = foreground(model.predict(input) as tf.Tensor4D, threshold);
    return frames.map(({ frame, crop }, i) =>
      maskToFrame(binary.slice([i, 0, 0], [1, -1, -1]).squeeze([0]) as tf.Tensor2D, [frame.height, frame.width], crop));
  });
  try {
    return masks.map((m) => Uint8Array.from(m.dataSync()));
  } finally {
    tf.dispose(masks);
  }
}
