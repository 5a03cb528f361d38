/**
 * The optional PyTorch tools venv (`<tools dir>/torch-venv`: `.tools/`, or ECHO_TOOLS_DIR): torch, smp 0.6 and
 * safetensors, created on first use by bench-torch and parity-smp. Never needed by `npm test` or `npm run demo`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, projectRoot } from '../config';

export const SMP_VERSION = '0.6.0';

/** The venv's python, created with torch + smp + safetensors when missing (or `explicit`, as it is). */
export function torchPython(explicit: string | undefined): string {
  if (explicit) return explicit;
  const venv = path.join(loadConfig().toolsDir, 'torch-venv');
  const python = path.join(venv, 'bin', 'python');
  const works = () => existsSync(python)
    && spawnSync(python, ['-c', 'import torch, segmentation_models_pytorch, safetensors'], { stdio: 'ignore' }).status === 0;
  if (works()) return python;
  console.log(`Installing PyTorch and segmentation-models-pytorch ${SMP_VERSION} into ${path.relative(projectRoot, venv)} (once; a few GB) …`);
  const run = (cmd: string, args: string[]) => {
    const result = spawnSync(cmd, args, { stdio: 'inherit' });
    if (result.status !== 0) throw new Error(`'${cmd} ${args.join(' ')}' failed; install python3 with venv and pip, or pass --python PATH to a python with torch and smp.`);
  };
  if (!existsSync(python)) run('python3', ['-m', 'venv', venv]);
  run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', 'torch', `segmentation-models-pytorch==${SMP_VERSION}`, 'safetensors']);
  if (!works()) throw new Error(`${python} still cannot import torch, segmentation_models_pytorch and safetensors.`);
  return python;
}
