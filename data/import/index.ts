/** The importers and the synthetic-data shortcut the demo and benchmarks use. */
import path from 'node:path';
import type { BlobStore } from '../../store/blobStore';
import { generateSyntheticVideo, writeCamusLike, writeFolderOfPairs, type SyntheticOptions } from '../synthetic';
import { importCamus } from './camus';
import { importFolderOfPairs } from './folderOfPairs';
import type { ImportSummary, SplitOptions } from './importCore';

export { importCamus, type CamusFrame, type CamusOptions, type CamusView } from './camus';
export { dicomFileToken, dicomMaskToken, importDicom, locateDicomTokens, type DicomFrameSelection, type DicomImportOptions } from './dicom';
export { importFolderOfPairs, type FolderOfPairsOptions, type GroupCsv } from './folderOfPairs';
export { ImportFailedError, splitByGroup, type ImportSkip, type ImportSummary, type SplitOptions } from './importCore';

export interface SyntheticImportOptions extends SyntheticOptions, Omit<SplitOptions, 'seed'> {
  /** Folder the generated files are written to (kept: it is the dataset's source). Use an empty folder, or one from the same options. */
  dir: string;
  /** 'pairs' (PNG images + masks, default), or CAMUS-like MetaImage or NIfTI files. */
  format?: 'pairs' | 'camus-mhd' | 'camus-nifti';
}

/**
 * Generates a synthetic echo dataset into `dir` video by video (memory stays at one video) and imports it
 * through the real importer. Same options → same files → same dataset id.
 */
export async function importSyntheticEcho(store: BlobStore, options: SyntheticImportOptions): Promise<ImportSummary> {
  const format = options.format ?? 'pairs';
  const size = typeof options.size === 'number' ? options.size : options.size ?? 256;
  for (let video = 0; video < options.videos; video++) {
    const frames = generateSyntheticVideo(options, video);
    if (format === 'pairs') await writeFolderOfPairs(options.dir, frames);
    else await writeCamusLike(options.dir, frames, { format: format === 'camus-mhd' ? 'mhd' : 'nifti' });
  }
  const split = {
    seed: options.seed ?? 0, initialCount: options.initialCount, testShare: options.testShare, valShare: options.valShare, testGroups: options.testGroups,
    testVideos: options.testVideos, valVideos: options.valVideos,
    onProgress: options.onProgress,
  };
  const name = `synthetic echo (${options.videos} videos × ${options.framesPerVideo} frames, seed ${options.seed ?? 0})`;
  if (format === 'pairs') return importFolderOfPairs(store, { dir: options.dir, size, name, ...split });
  return importCamus(store, { dir: path.resolve(options.dir), size, name, frames: format === 'camus-nifti' ? 'half_sequence' : ['ED', 'ES'], ...split });
}
