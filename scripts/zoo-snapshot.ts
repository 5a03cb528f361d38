/**
 * Writes test/fixtures/zoo/param-counts.json: for every architecture × encoder the zoo can build, at a small, fast
 * configuration, the trainable parameter count and a digest of the built model's whole structure (every layer in
 * order: class, configuration, inbound connections, output shape, weights with shape and trainability).
 * `test/ml/zooSnapshot.test.ts`
 * rebuilds each configuration and compares, so a refactor of the zoo is proved to change neither counts nor structure.
 *   npx tsx scripts/zoo-snapshot.ts [--out test/fixtures/zoo/param-counts.json]
 * Regenerate only when a change of structure is intended, and say which entries changed and why.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type * as tf from '@tensorflow/tfjs';
import { initBackend } from '../ml/backend';
import type { ArchName, ModelConfig } from '../ml/types';
import { buildModel, listArchitectures, listEncoders } from '../ml/zoo';

/**
 * 128² so PAN builds at depth 5 (its pyramid pools the stride-16 map three times); width ×1/16 keeps all 81 encoders
 * quick; seed 1 so the seeded initialiser configurations of stock layers are part of the digest too.
 */
export const SNAPSHOT_SETTINGS = {
  inputShape: [128, 128, 3] as [number, number, number],
  classes: 1,
  widthScale: 0.0625,
  depths: [5, 3],
  seed: 1,
};

export interface SnapshotEntry {
  /** Trainable parameters (absent when the configuration cannot be built). */
  params?: number;
  /** sha256 of `structureText(model)`. */
  structure?: string;
  /** Why the configuration cannot be built (e.g. an encoder without dilated mode under DeepLabV3). */
  error?: string;
}

export type Snapshot = Record<string, SnapshotEntry>;

export const snapshotKey = (arch: ArchName, encoder: string, depth: number): string => `${arch}|${encoder}|${depth}`;

export function snapshotConfig(arch: ArchName, encoder: string, depth: number): ModelConfig {
  const { inputShape, classes, widthScale, seed } = SNAPSHOT_SETTINGS;
  return { arch, encoder, encoderDepth: depth, inputShape, classes, widthScale, seed, dropout: { strategy: 'none', rate: 0 } };
}

/**
 * One line per layer, in the model's order: class, configuration (name, shape arguments, initialiser settings),
 * inbound layers, output shape, and weights (original name, shape, trainable). What `model.toJSON` records and more,
 * at a quarter of its cost (its snake_case conversion dominates).
 */
export function structureText(model: tf.LayersModel): string {
  return model.layers
    .map((layer) => {
      const inbound = layer.inboundNodes.map((node) => node.inboundLayers.map((l, i) => `${l.name}[${node.nodeIndices[i]}][${node.tensorIndices[i]}]`));
      const weights = layer.weights.map((w) => `${w.originalName}${JSON.stringify(w.shape)}${w.trainable ? '' : ' frozen'}`);
      return [layer.getClassName(), JSON.stringify(layer.getConfig()), JSON.stringify(inbound), JSON.stringify(layer.outputShape), weights.join(' ')].join(' | ');
    })
    .join('\n');
}

/** Builds one configuration and returns its count and topology digest, or the error it throws. */
export function snapshotEntry(arch: ArchName, encoder: string, depth: number): SnapshotEntry {
  let net;
  try {
    net = buildModel(snapshotConfig(arch, encoder, depth));
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
  try {
    return { params: net.paramCount, structure: createHash('sha256').update(structureText(net.model)).digest('hex') };
  } finally {
    net.model.dispose();
  }
}

/** Every key of the snapshot, in a stable order: depth, then architecture, then encoder. */
export function snapshotKeys(): [ArchName, string, number][] {
  const keys: [ArchName, string, number][] = [];
  for (const depth of SNAPSHOT_SETTINGS.depths) {
    for (const arch of listArchitectures()) for (const encoder of listEncoders()) keys.push([arch, encoder, depth]);
  }
  return keys;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: 'test/fixtures/zoo/param-counts.json' } } });
  await initBackend(undefined, () => {});
  const started = Date.now();
  const entries: Snapshot = {};
  for (const [arch, encoder, depth] of snapshotKeys()) entries[snapshotKey(arch, encoder, depth)] = snapshotEntry(arch, encoder, depth);
  const file = path.resolve(values.out!);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fixture = { generatedBy: 'npx tsx scripts/zoo-snapshot.ts', settings: SNAPSHOT_SETTINGS, entries };
  fs.writeFileSync(file, `${JSON.stringify(fixture, null, 1)}\n`);
  const built = Object.values(entries).filter((e) => e.params !== undefined).length;
  console.log(`${Object.keys(entries).length} configurations (${built} built) in ${((Date.now() - started) / 1000).toFixed(1)} s → ${file}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
