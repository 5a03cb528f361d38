/**
 * Installs what the project needs into the git-ignored tools folder, reusing what is there:
 * the Temporal CLI, the Temporal time-skipping test server, MinIO and the native TensorFlow addon; with
 * `--label-studio` also Label Studio (≈1 GB), which only the tests and `services:start --label-studio` run; with
 * `--pacs` also Orthanc with DICOMweb (≈40 MB of Debian packages), which only the tests and `services:start --pacs` run.
 * `tsx scripts/setup.ts [--label-studio] [--pacs]` (scripts/bootstrap.sh passes its arguments on).
 */
import { loadConfig } from '../config';
import { ensureLabelStudio, labelStudioSettingsFromEnv } from './labelStudio';
import { ensureOrthanc } from './orthanc';
import { setupBackends } from './setup-tf';
import { ensureTool, SetupError, type ToolName } from './tools';

/** The optional components, each installed only when its flag is given. */
export const OPTIONAL_COMPONENTS = ['--label-studio', '--pacs'] as const;

export function parseSetupArgs(args: string[]): { labelStudio: boolean; pacs: boolean } {
  const unknown = args.filter((a) => !(OPTIONAL_COMPONENTS as readonly string[]).includes(a));
  if (unknown.length > 0) throw new SetupError(`unknown argument ${unknown.join(' ')}; usage: setup [${OPTIONAL_COMPONENTS.join('] [')}]`);
  return { labelStudio: args.includes('--label-studio'), pacs: args.includes('--pacs') };
}

function main(): void {
  const { labelStudio, pacs } = parseSetupArgs(process.argv.slice(2));
  const config = loadConfig();
  const tools: ToolName[] = ['temporal', 'temporal-test-server', 'minio'];
  for (const tool of tools) console.log(`[tools] ${tool}: ${ensureTool(tool)}`);
  // `services:start --label-studio` (or LABEL_STUDIO_ENABLE=1) and the tests install it themselves when it is missing.
  if (labelStudio) console.log(`[tools] label-studio: ${ensureLabelStudio(config.toolsDir, labelStudioSettingsFromEnv().bin)}`);
  else console.log('[tools] label-studio: not needed by this command (installed by `npm test` or `services:start --label-studio`)');
  if (pacs) {
    const orthanc = ensureOrthanc(config.toolsDir, config.orthanc);
    console.log(`[tools] orthanc: ${orthanc.bin} (Orthanc ${orthanc.version}, DICOMweb plugin ${orthanc.dicomWebPlugin})`);
  } else {
    console.log('[tools] orthanc: not needed by this command (installed by `npm test` or `services:start --pacs`)');
  }
  setupBackends();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main();
  } catch (error) {
    console.error(`setup error: ${error instanceof SetupError ? error.message : (error as Error).stack}`);
    process.exit(1);
  }
}
