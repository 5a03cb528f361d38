/**
 * Installs what the project needs into the git-ignored tools folder, reusing what is there:
 * the Temporal CLI, the Temporal time-skipping test server, MinIO and the native TensorFlow addon; with
 * `--label-studio` also Label Studio (≈1 GB), which only the tests and `services:start --label-studio` run.
 * `tsx scripts/setup.ts [--label-studio]` (scripts/bootstrap.sh passes its arguments on).
 */
import { loadConfig } from '../config';
import { ensureLabelStudio, labelStudioSettingsFromEnv } from './labelStudio';
import { setupBackends } from './setup-tf';
import { ensureTool, SetupError, type ToolName } from './tools';

/** The optional components, each installed only when its flag is given. */
export const OPTIONAL_COMPONENTS = ['--label-studio'] as const;

export function parseSetupArgs(args: string[]): { labelStudio: boolean } {
  const unknown = args.filter((a) => !(OPTIONAL_COMPONENTS as readonly string[]).includes(a));
  if (unknown.length > 0) throw new SetupError(`unknown argument ${unknown.join(' ')}; usage: setup [${OPTIONAL_COMPONENTS.join('] [')}]`);
  return { labelStudio: args.includes('--label-studio') };
}

function main(): void {
  const { labelStudio } = parseSetupArgs(process.argv.slice(2));
  const tools: ToolName[] = ['temporal', 'temporal-test-server', 'minio'];
  for (const tool of tools) console.log(`[tools] ${tool}: ${ensureTool(tool)}`);
  // `services:start --label-studio` (or LABEL_STUDIO_ENABLE=1) and the tests install it themselves when it is missing.
  if (labelStudio) console.log(`[tools] label-studio: ${ensureLabelStudio(loadConfig().toolsDir, labelStudioSettingsFromEnv().bin)}`);
  else console.log('[tools] label-studio: not needed by this command (installed by `npm test` or `services:start --label-studio`)');
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
