/**
 * Installs what the project needs into the git-ignored tools folder, reusing what is there:
 * the Temporal CLI, the Temporal time-skipping test server, MinIO, Label Studio, and the native TensorFlow addon.
 */
import { loadConfig } from '../config';
import { ensureLabelStudio, labelStudioSettingsFromEnv } from './labelStudio';
import { setupBackends } from './setup-tf';
import { ensureTool, SetupError, type ToolName } from './tools';

function main(): void {
  const tools: ToolName[] = ['temporal', 'temporal-test-server', 'minio'];
  for (const tool of tools) console.log(`[tools] ${tool}: ${ensureTool(tool)}`);
  console.log(`[tools] label-studio: ${ensureLabelStudio(loadConfig().toolsDir, labelStudioSettingsFromEnv().bin)}`);
  setupBackends();
}

try {
  main();
} catch (error) {
  console.error(`setup error: ${error instanceof SetupError ? error.message : (error as Error).stack}`);
  process.exit(1);
}
