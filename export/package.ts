/**
 * Writes a self-contained model package to a folder:
 *
 *   model.json, weights.bin     the tfjs layers model (topology + weights), as `tf.loadLayersModel` reads it
 *   metadata.json               architecture, encoder, depth, input size and channels, normalisation, threshold,
 *                               dataset, labelled count, validation / test IoU, code version (ModelPackageMetadata)
 *   README.md                   how to load and run it, and what the input must be
 *   uncertainty/                the run's MC-dropout model (model.json, weights.bin, config.json), when it has one
 *
 * `export/loader.ts` loads it (`loadSegmentationModel`); `packageAsStoredModel` turns it back into the store's model
 * layout (config.json + final/) so workers can run `predict --package` on it.
 *
 * The ONNX format (`writeOnnxPackage`) writes model.onnx (export/onnx: the deterministic segmentation model, input
 * and output NHWC as above, the metadata also in its metadata_props) and the same metadata.json, nothing else.
 * `readModelPackage` tells the two apart for `predict --package`, checking an ONNX file first (export/onnx/validate.ts).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../config';
import { checkpointKeys, MODEL_PACKAGE_FORMAT, modelKeys, type ModelPackageMetadata } from '../contracts';
import { type BlobStore } from '../store/blobStore';
import { readOnnxModelMetadata } from './onnx/validate';
import type { ModelConfig } from '../ml/types';

/** What is known about where the model came from (null: unknown). */
export interface PackageSource {
  modelKey: string;
  uncertaintyKey?: string;
  runId?: string;
  phase?: number;
  datasetId?: string;
  labelledCount?: number;
  validationIoU?: number;
  testIoU?: number;
}

const MODEL_FILES = ['model.json', 'weights.bin'] as const;
export const ONNX_FILE = 'model.onnx';

async function readModelConfig(store: BlobStore, modelKey: string): Promise<ModelConfig> {
  return JSON.parse(new TextDecoder().decode(await store.getBytes(modelKeys.config(modelKey)))) as ModelConfig;
}
export const PACKAGE_FORMAT = MODEL_PACKAGE_FORMAT;

/** package.json's version and the git commit of the working tree (null outside a git checkout). */
export function codeVersion(): { version: string; gitCommit: string | null } {
  const { version } = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };
  let gitCommit: string | null = null;
  try {
    gitCommit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim() || null;
  } catch {
    // not a git checkout, or git is not installed
  }
  return { version, gitCommit };
}

/** The metadata of a package (metadata.json), also written into an ONNX file's metadata_props. */
export function packageMetadata(config: ModelConfig, source: PackageSource, uncertainty: ModelConfig | undefined): ModelPackageMetadata {
  const [height, width, channels] = config.inputShape;
  return {
    format: PACKAGE_FORMAT,
    formatVersion: 1,
    architecture: config.arch,
    encoder: config.encoder,
    encoderDepth: config.encoderDepth,
    widthScale: config.widthScale ?? 1,
    inputShape: config.inputShape,
    classes: config.classes,
    input: {
      height, width, channels,
      normalisation: 'grey in [0, 1] (8-bit values / 255, 16-bit / 65535; colour → grey as luma), one channel, row-major; no mean or std normalisation',
      resize: `images of another size: the crop region (e.g. a DICOM ultrasound region) resized to ${height}×${width} with Lanczos-3, the mask resized back with nearest neighbour`,
    },
    output: {
      activation: config.classes === 1 ? 'sigmoid' : 'softmax',
      threshold: 0.5,
      description: config.classes === 1 ? 'probability of the LV cavity per pixel; the mask is p > threshold' : 'class probabilities per pixel; the mask is argmax ≠ 0',
    },
    config: config as unknown as Record<string, unknown>,
    source: {
      modelKey: source.modelKey,
      runId: source.runId ?? null,
      phase: source.phase ?? null,
      datasetId: source.datasetId ?? null,
      labelledCount: source.labelledCount ?? null,
      validationIoU: source.validationIoU ?? null,
      testIoU: source.testIoU ?? null,
    },
    code: codeVersion(),
    exportedAt: new Date().toISOString(),
    uncertainty: uncertainty ? { path: 'uncertainty/', dropout: uncertainty.dropout } : null,
  };
}

function fmt(value: number | null, digits = 4): string {
  return value === null ? 'unknown' : value.toFixed(digits);
}

function readme(m: ModelPackageMetadata): string {
  const s = m.source;
  return `# LV segmentation model: ${m.architecture} + ${m.encoder}

Exported by echo-al ${m.code.version}${m.code.gitCommit ? ` (commit ${m.code.gitCommit.slice(0, 12)})` : ''} on ${m.exportedAt.slice(0, 10)} from \`${s.modelKey}\`${s.runId ? ` (run \`${s.runId}\`${s.phase !== null ? `, phase ${s.phase}` : ''})` : ''}.

| | |
| --- | --- |
| architecture | ${m.architecture}, encoder ${m.encoder}, depth ${m.encoderDepth}, width ×${m.widthScale} |
| input | ${m.input.height}×${m.input.width}, ${m.input.channels} channel(s): ${m.input.normalisation} |
| output | ${m.output.description} (threshold ${m.output.threshold}) |
| trained on | dataset ${s.datasetId ?? 'unknown'}, ${s.labelledCount ?? 'unknown'} labelled images |
| IoU | validation ${fmt(s.validationIoU)}, test ${fmt(s.testIoU)} |
| uncertainty model | ${m.uncertainty ? `\`uncertainty/\` (dropout ${m.uncertainty.dropout.strategy}, rate ${m.uncertainty.dropout.rate})` : 'none'} |

Files: \`model.json\` + \`weights.bin\` (TensorFlow.js layers model), \`metadata.json\` (all of the above, machine-readable).

## Load and run it (Node.js 20, with the echo-al project)

\`\`\`ts
import { loadSegmentationModel } from 'echo-al/export/loader.ts'; // <echo-al checkout>/export/loader.ts
const seg = await loadSegmentationModel('path/to/this/folder');
// image: { width, height, data: Float32Array } — grey in [0, 1], row-major, any size
const mask = seg.predictMask(image, { crop: { x, y, width, height } }); // crop optional: the ultrasound region
// mask: Uint8Array of width × height, 1 = LV cavity, 0 elsewhere (always 0 outside the crop)
\`\`\`

The loader imports only TensorFlow.js and echo-al's custom layers (\`ml/layers\`, whose registration lets
\`tf.loadLayersModel\` rebuild this topology) and uses native TensorFlow (\`@tensorflow/tfjs-node\`) when it is
installed. Or from the command line: \`npx tsx client.ts predict --package path/to/this/folder --input FRAMES --out DIR\`.

## What the input must be

- One grey channel in [0, 1]: 8-bit values / 255, 16-bit / 65535; colour frames as their luma. No other normalisation.
- Any size: the loader resizes the crop region (or the whole image) to ${m.input.height}×${m.input.width} with
  Lanczos-3, as the training images were, and the mask back to the original size with nearest neighbour.
- Crop DICOM frames to their ultrasound region (the Sequence of Ultrasound Regions' 2D tissue region) as the
  training data was; the mask is background outside it.
`;
}

function copyModelFiles(from: Record<string, Uint8Array>, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(from)) fs.writeFileSync(path.join(dir, name), bytes);
}

async function storedModelFiles(store: BlobStore, modelKey: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  for (const name of MODEL_FILES) files[name] = await store.getBytes(checkpointKeys.file(modelKeys.finalWeights(modelKey), name));
  return files;
}

/** Writes the package of a stored model to `dir` (created; files of an earlier package there are replaced). */
export async function writeModelPackage(store: BlobStore, source: PackageSource, dir: string): Promise<{ metadata: ModelPackageMetadata; files: string[] }> {
  const config = await readModelConfig(store, source.modelKey);
  const files = await storedModelFiles(store, source.modelKey);
  const uncertaintyConfig = source.uncertaintyKey ? await readModelConfig(store, source.uncertaintyKey) : undefined;
  const uncertaintyFiles = source.uncertaintyKey ? await storedModelFiles(store, source.uncertaintyKey) : undefined;
  const metadata = packageMetadata(config, source, uncertaintyConfig);
  copyModelFiles(files, dir);
  fs.rmSync(path.join(dir, ONNX_FILE), { force: true });
  const written: string[] = [...MODEL_FILES];
  if (uncertaintyFiles && uncertaintyConfig) {
    copyModelFiles({ ...uncertaintyFiles, 'config.json': new TextEncoder().encode(JSON.stringify(uncertaintyConfig, null, 2)) }, path.join(dir, 'uncertainty'));
    written.push(...MODEL_FILES.map((f) => `uncertainty/${f}`), 'uncertainty/config.json');
  } else {
    fs.rmSync(path.join(dir, 'uncertainty'), { recursive: true, force: true });
  }
  fs.writeFileSync(path.join(dir, 'metadata.json'), `${JSON.stringify(metadata, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'README.md'), readme(metadata));
  written.push('metadata.json', 'README.md');
  return { metadata, files: written.map((f) => path.join(dir, f)) };
}

/**
 * Writes a stored model as ONNX to `dir`: model.onnx and metadata.json (an earlier tfjs package's files there are
 * removed). The uncertainty model is not exported: the file is the deterministic segmentation model.
 */
export async function writeOnnxPackage(store: BlobStore, source: PackageSource, dir: string): Promise<{ metadata: ModelPackageMetadata; files: string[] }> {
  // Loaded here, not at the top: the tfjs package needs neither tfjs nor the protobuf schema.
  await import('../ml/layers');
  const { loadModelFromCheckpoint } = await import('../ml/train/checkpoint');
  const { exportOnnx } = await import('./onnx');
  const config = await readModelConfig(store, source.modelKey);
  const model = await loadModelFromCheckpoint(store, modelKeys.finalWeights(source.modelKey));
  const metadata = packageMetadata(config, source, undefined);
  try {
    const bytes = exportOnnx(model, config, metadata);
    fs.mkdirSync(dir, { recursive: true });
    for (const stale of [...MODEL_FILES, 'README.md']) fs.rmSync(path.join(dir, stale), { force: true });
    fs.rmSync(path.join(dir, 'uncertainty'), { recursive: true, force: true });
    fs.writeFileSync(path.join(dir, ONNX_FILE), bytes);
  } finally {
    model.dispose();
  }
  fs.writeFileSync(path.join(dir, 'metadata.json'), `${JSON.stringify(metadata, null, 2)}\n`);
  return { metadata, files: [ONNX_FILE, 'metadata.json'].map((f) => path.join(dir, f)) };
}

/** Reads a tfjs package's metadata, or explains why `dir` is not one. */
export function readPackageMetadata(dir: string): ModelPackageMetadata {
  const file = path.join(dir, 'metadata.json');
  if (!fs.existsSync(file) || !fs.existsSync(path.join(dir, 'model.json'))) {
    throw new Error(`${dir} is not a model package (it needs metadata.json and model.json, as \`client.ts export\` writes them, or model.onnx from \`export --format onnx\`)`);
  }
  const metadata = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelPackageMetadata;
  if (metadata.format !== PACKAGE_FORMAT) throw new Error(`${file} is not an echo-al model package's metadata (format '${String(metadata.format)}')`);
  return metadata;
}

/**
 * Copies a package into the store's model layout under `modelKey` (config.json + final/, with a checkpoint
 * meta.json), and its uncertainty model under `uncertaintyKey`: what workers load for `predict --package`.
 */
export async function packageAsStoredModel(dir: string, store: BlobStore, modelKey: string, uncertaintyKey: string): Promise<{ modelKey: string; uncertaintyKey?: string }> {
  const metadata = readPackageMetadata(dir);
  const put = async (from: string, key: string, config: unknown) => {
    for (const name of MODEL_FILES) await store.putBytes(checkpointKeys.file(modelKeys.finalWeights(key), name), fs.readFileSync(path.join(from, name)));
    await store.putBytes(checkpointKeys.file(modelKeys.finalWeights(key), 'meta.json'), new TextEncoder().encode(JSON.stringify({ epoch: 0, step: 0 })), 'application/json');
    await store.putBytes(modelKeys.config(key), new TextEncoder().encode(JSON.stringify(config)), 'application/json');
  };
  await put(dir, modelKey, metadata.config);
  if (!metadata.uncertainty) return { modelKey };
  const uncertaintyDir = path.join(dir, metadata.uncertainty.path);
  await put(uncertaintyDir, uncertaintyKey, JSON.parse(fs.readFileSync(path.join(uncertaintyDir, 'config.json'), 'utf8')));
  return { modelKey, uncertaintyKey };
}

/** A package as `predict --package` takes it: the tfjs package, or an ONNX file (with its metadata inside). */
export type ModelPackage = { kind: 'tfjs'; dir: string; metadata: ModelPackageMetadata } | { kind: 'onnx'; file: string; metadata: ModelPackageMetadata };

/** The fields a metadata.json beside an ONNX file must agree on with the file's own metadata. */
const IDENTITY_FIELDS = ['architecture', 'encoder', 'encoderDepth', 'inputShape', 'classes'] as const;

/**
 * What `where` holds: a tfjs package (model.json + metadata.json), an ONNX package (model.onnx, written by
 * `export --format onnx`) or an `.onnx` file itself. An ONNX file is checked completely (export/onnx/validate.ts);
 * a metadata.json beside it must describe the same model. Throws an error whose message is the one-line reason.
 */
export function readModelPackage(where: string): ModelPackage {
  if (!fs.existsSync(where)) throw new Error(`${where} does not exist`);
  const isFile = fs.statSync(where).isFile();
  if (!isFile && fs.existsSync(path.join(where, 'model.json'))) return { kind: 'tfjs', dir: where, metadata: readPackageMetadata(where) };
  const file = isFile ? where : path.join(where, ONNX_FILE);
  if (!isFile && !fs.existsSync(file)) return { kind: 'tfjs', dir: where, metadata: readPackageMetadata(where) };
  const metadata = readOnnxModelMetadata(file);
  const beside = path.join(path.dirname(file), 'metadata.json');
  if (!isFile && fs.existsSync(beside)) {
    const written = JSON.parse(fs.readFileSync(beside, 'utf8')) as Record<string, unknown>;
    const differs = IDENTITY_FIELDS.find((field) => JSON.stringify(written[field]) !== JSON.stringify(metadata[field]));
    if (differs) {
      throw new Error(`${beside} describes another model than ${file} (${differs}: ${JSON.stringify(written[differs])} vs ${JSON.stringify(metadata[differs])} in the file)`);
    }
  }
  return { kind: 'onnx', file, metadata };
}
