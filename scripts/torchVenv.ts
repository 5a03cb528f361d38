/**
 * The optional PyTorch tools venv (`<tools dir>/torch-venv`: `.tools/`, or ECHO_TOOLS_DIR): torch, smp 0.6 and
 * safetensors, created on first use by bench-torch and parity-smp; `onnx` (ONNX's checker) added by onnx-check,
 * `highdicom` and `pydicom` (DICOM SEG readers) by seg-check.
 * Never needed by `npm test` or `npm run demo`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, projectRoot } from '../config';

export const SMP_VERSION = '0.6.0';

/**
 * The venv's python once it imports `modules`: the venv is created when missing and `packages` pip-installed into
 * it when an import fails (`what` names them in the messages).
 */
function venvPython(modules: string, packages: string[], what: string): string {
  const venv = path.join(loadConfig().toolsDir, 'torch-venv');
  const python = path.join(venv, 'bin', 'python');
  const works = () => existsSync(python) && spawnSync(python, ['-c', `import ${modules}`], { stdio: 'ignore' }).status === 0;
  if (works()) return python;
  console.log(`Installing ${what} into ${path.relative(projectRoot, venv)} (once) …`);
  const run = (cmd: string, args: string[]) => {
    const result = spawnSync(cmd, args, { stdio: 'inherit' });
    if (result.status !== 0) throw new Error(`'${cmd} ${args.join(' ')}' failed; install python3 with venv and pip, or pass --python PATH to a python with ${what}.`);
  };
  if (!existsSync(python)) run('python3', ['-m', 'venv', venv]);
  run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...packages]);
  if (!works()) throw new Error(`${python} still cannot import ${modules}.`);
  return python;
}

/** The venv's python, created with torch + smp + safetensors when missing (or `explicit`, as it is). */
export function torchPython(explicit: string | undefined): string {
  if (explicit) return explicit;
  return venvPython('torch, segmentation_models_pytorch, safetensors', ['torch', `segmentation-models-pytorch==${SMP_VERSION}`, 'safetensors'],
    `PyTorch and segmentation-models-pytorch ${SMP_VERSION} (a few GB)`);
}

/** The venv's python with ONNX's `onnx` package (added to the venv; torch is not needed), or `explicit`. */
export function onnxPython(explicit: string | undefined): string {
  if (explicit) return explicit;
  return venvPython('onnx', ['onnx'], 'onnx');
}

/** The venv's python with `highdicom` and `pydicom` (added to the venv; torch is not needed), or `explicit`. */
export function segPython(explicit: string | undefined): string {
  if (explicit) return explicit;
  return venvPython('highdicom, pydicom', ['highdicom', 'pydicom'], 'highdicom and pydicom');
}
