/** dataset list | show | import: what the runs train on. */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../client';
import { importCamus, importFolderOfPairs, type ImportSummary, importSyntheticEcho } from '../data/import';
import { listDatasets, readManifest, readSplit } from '../data/manifest';
import { MissingKeyError } from '../ml/blobStore';
import { CliError } from './context';
import { list, num, oneOf, positiveInt, str } from './options';

export const datasetListCommand: Command = {
  summary: 'list imported datasets',
  usage: 'dataset list [--json]',
  options: { json: { type: 'boolean' } },
  async run(ctx, { values }) {
    const manifests = await listDatasets(ctx.store());
    if (values.json) return console.log(JSON.stringify(manifests, null, 2));
    if (manifests.length === 0) return console.log('no datasets yet; `client.ts dataset import …` adds one');
    for (const m of manifests) {
      const c = m.splits.counts;
      console.log(`${m.id}  ${m.size[0]}×${m.size[1]}  ${m.itemCount} images (initial ${c.initial}, pool ${c.pool}, test ${c.test})  ${m.name}`);
    }
  },
};

export const datasetShowCommand: Command = {
  summary: 'show a dataset\'s manifest and splits',
  usage: 'dataset show <id> [--json]',
  options: { json: { type: 'boolean' } },
  async run(ctx, { positionals, values }) {
    const id = positionals[0] ?? '';
    if (!id) throw new CliError('dataset show needs a dataset id');
    let manifest;
    try {
      manifest = await readManifest(ctx.store(), id);
    } catch (error) {
      if (error instanceof MissingKeyError) throw new CliError(`no dataset '${id}'; \`client.ts dataset list\` shows the imported ones`);
      throw error;
    }
    if (values.json) return console.log(JSON.stringify(manifest, null, 2));
    console.log(`${manifest.id}: ${manifest.name}\n  source ${manifest.source}, ${manifest.size[0]}×${manifest.size[1]}, ${manifest.itemCount} images, created ${manifest.createdAt}`);
    for (const split of ['initial', 'pool', 'test'] as const) {
      const ids = await readSplit(ctx.store(), id, split);
      console.log(`  ${split.padEnd(7)} ${String(ids.length).padStart(6)}  ${ids.slice(0, 4).join(', ')}${ids.length > 4 ? ', …' : ''}`);
    }
  },
};

function printSummary(summary: ImportSummary): void {
  const c = summary.manifest.splits.counts;
  console.log(`${summary.reused ? 'already imported' : 'imported'} ${summary.datasetId}: ${summary.imported} images (${summary.labelled} labelled); ` +
    `initial ${c.initial}, pool ${c.pool}, test ${c.test}`);
  for (const skip of summary.skipped) console.log(`  skipped ${skip.file}: ${skip.reason}`);
}

export const datasetImportCommand: Command = {
  summary: 'import a folder of image/mask pairs, a CAMUS release, or generate a synthetic echo set',
  usage: 'dataset import --format pairs|camus|synthetic [--dir DIR] [--size 256] [--initial 40] [--test-share 0.2] [--seed 0] …',
  options: {
    format: { type: 'string' }, dir: { type: 'string' }, size: { type: 'string' }, initial: { type: 'string' },
    'test-share': { type: 'string' }, seed: { type: 'string' }, name: { type: 'string' }, 'mask-pattern': { type: 'string' },
    label: { type: 'string' }, 'group-regex': { type: 'string' }, 'group-csv': { type: 'string' }, views: { type: 'string' },
    frames: { type: 'string' }, 'split-lists': { type: 'boolean' }, videos: { type: 'string' }, 'frames-per-video': { type: 'string' },
  },
  async run(ctx, { values }) {
    const format = oneOf(values, 'format', ['pairs', 'camus', 'synthetic'] as const, 'pairs');
    const size = num(values, 'size', 256, positiveInt, 'a positive integer');
    let lastShown = 0;
    const onProgress = (done: number, total: number) => {
      // A line per tenth (and the last), so a long import shows it is moving without flooding logs.
      if (done === total || done - lastShown >= total / 10) {
        lastShown = done;
        console.log(`  ${done}/${total} files processed`);
      }
    };
    const split = {
      onProgress,
      seed: num(values, 'seed', 0, Number.isInteger, 'an integer'),
      initialCount: num(values, 'initial', 40, positiveInt, 'a positive integer'),
      testShare: num(values, 'test-share', 0.2, (n) => n > 0 && n < 1, 'a share in (0, 1)'),
    };
    const store = ctx.store();
    await store.ensureBucket();
    let summary: ImportSummary;
    if (format === 'synthetic') {
      const dir = path.resolve(str(values, 'dir', path.join(ctx.config.dataDir, 'synthetic', `v${values.videos ?? 20}-f${values['frames-per-video'] ?? 30}-s${size}-seed${split.seed}`)));
      fs.mkdirSync(dir, { recursive: true });
      console.log(`generating synthetic echo videos into ${dir}…`);
      summary = await importSyntheticEcho(store, {
        dir, size, ...split,
        videos: num(values, 'videos', 20, positiveInt, 'a positive integer'),
        framesPerVideo: num(values, 'frames-per-video', 30, positiveInt, 'a positive integer'),
      });
    } else {
      const dir = path.resolve(str(values, 'dir'));
      if (!fs.existsSync(dir)) throw new CliError(`${dir} does not exist`);
      if (format === 'pairs') {
        const groupFrom = values['group-csv'] ? { csv: String(values['group-csv']) }
          : values['group-regex'] ? new RegExp(String(values['group-regex'])) : undefined;
        summary = await importFolderOfPairs(store, {
          dir, size, ...split, groupFrom, name: values.name ? String(values.name) : undefined,
          maskPattern: values['mask-pattern'] ? String(values['mask-pattern']) : undefined,
          label: values.label === undefined ? undefined : num(values, 'label', 1, positiveInt, 'a positive integer'),
        });
      } else {
        const frames = values.frames === 'half_sequence' ? 'half_sequence' as const
          : (list(values, 'frames') ?? ['ED', 'ES']).map((f) => {
            if (f !== 'ED' && f !== 'ES') throw new CliError(`--frames: '${f}' is not ED, ES or half_sequence`);
            return f;
          });
        summary = await importCamus(store, {
          dir, size, ...split, frames, name: values.name ? String(values.name) : undefined,
          views: (list(values, 'views') ?? ['2CH']).map((v) => {
            if (v !== '2CH' && v !== '4CH') throw new CliError(`--views: '${v}' is not 2CH or 4CH`);
            return v;
          }),
          label: num(values, 'label', 1, positiveInt, 'a positive integer'),
          splitLists: values['split-lists'] ? true : undefined,
        });
      }
    }
    printSummary(summary);
  },
};
