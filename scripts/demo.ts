/**
 * The README's first command (after scripts/bootstrap.sh): starts the local services and a worker,
 * runs the demo through the CLI, then stops the worker (the services keep running for the Temporal UI;
 * `npm run services:stop` stops them).
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { loadConfig, projectRoot } from '../config';
import { startServices } from './services';

const tsx = path.join(projectRoot, 'node_modules', '.bin', 'tsx');

function cli(args: string[]): void {
  const result = spawnSync(tsx, ['client.ts', ...args], { cwd: projectRoot, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`client.ts ${args.join(' ')} failed`);
}

async function main(): Promise<void> {
  const config = loadConfig();
  await startServices(config);
  const worker = spawn(tsx, ['worker.ts'], { cwd: projectRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  try {
    cli(['roundtrip', '--message', 'echo-al demo']);
  } finally {
    worker.kill('SIGINT');
    await new Promise((resolve) => worker.once('exit', resolve));
  }
  const host = config.temporal.address.split(':')[0];
  console.log(`\nTemporal UI: http://${host}:${config.temporal.uiPort} (services keep running; stop them with \`npm run services:stop\`)`);
}

main().catch((error: unknown) => {
  console.error(`demo error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
