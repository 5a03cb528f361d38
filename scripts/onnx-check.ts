/**
 * ONNX's own checker over exported files: every architecture × one encoder per family (the combinations the zoo
 * builds; DenseNet and VGG have no dilated variant for DeepLab and PAN) at tiny size, exported with `exportOnnx` and
 * checked by `onnx.checker.check_model(path, full_check=True)` (schema, opset and full shape inference) in the
 * optional tools venv (scripts/torchVenv.ts; `onnx` is installed into it from PyPI on first use). Prints a table and
 * exits 1 if a file fails. Not part of `npm test`: the unit test (test/export/onnx.test.ts) runs the files in ONNX
 * Runtime.
 *
 *   npx tsx scripts/onnx-check.ts [--python PATH] [--archs Unet,FPN] [--encoders resnet18,dpn68] [--keep DIR]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportOnnx } from '../export/onnx';
import { packageMetadata } from '../export/package';
import { initBackend } from '../ml/backend';
import type { ArchName } from '../ml/types';
import { buildModel, listArchitectures } from '../ml/zoo';
import { benchOptions, printCommand } from './benchArgs';
import { onnxPython } from './torchVenv';

const USAGE = 'npx tsx scripts/onnx-check.ts [--python PATH] [--archs A,B] [--encoders E,F] [--keep DIR]';

/** One encoder per family (ml/zoo/encoders), the variants whose blocks differ included. */
const FAMILY_ENCODERS = [
  'resnet18', 'resnext50_32x4d', 'se_resnet50', 'senet154', 'timm-resnest14d', 'timm-resnest50d_4s2x40d', 'timm-skresnet18',
  'timm-skresnext50_32x4d', 'densenet121', 'efficientnet-b0', 'dpn68', 'timm-regnetx_002', 'timm-regnety_002', 'vgg11_bn',
  'mobilenet_v2', 'timm-mobilenetv3_large_075', 'timm-mobilenetv3_small_minimal_100',
];

/** Checks each file in one python process; one JSON line per file. */
const CHECKER = `
import json, sys, onnx
for file in sys.argv[1:]:
    try:
        onnx.checker.check_model(file, full_check=True)
        print(json.dumps({"file": file, "ok": True}))
    except Exception as error:
        print(json.dumps({"file": file, "ok": False, "error": str(error).splitlines()[0][:200]}))
print(json.dumps({"onnx": onnx.__version__}))
`;

interface Exported {
  arch: ArchName;
  encoder: string;
  file?: string;
  kib?: number;
  /** Why the zoo or the exporter refused the combination. */
  refused?: string;
}

function list(text: string | undefined, all: readonly string[]): string[] {
  if (!text) return [...all];
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

async function main(): Promise<void> {
  const options = benchOptions(USAGE, {
    python: { type: 'string' }, archs: { type: 'string' }, encoders: { type: 'string' }, keep: { type: 'string' },
  });
  printCommand('onnx-check.ts');
  await initBackend(undefined, () => {});
  const python = onnxPython(options.python);
  const dir = options.keep ? path.resolve(options.keep) : fs.mkdtempSync(path.join(os.tmpdir(), 'echo-onnx-check-'));
  fs.mkdirSync(dir, { recursive: true });
  const rows: Exported[] = [];
  for (const arch of list(options.archs, listArchitectures()) as ArchName[]) {
    for (const encoder of list(options.encoders, FAMILY_ENCODERS)) {
      const size = arch === 'PAN' ? 128 : 64;
      let net;
      try {
        net = buildModel({ arch, encoder, inputShape: [size, size, 1], classes: 1, dropout: { strategy: 'decoder', rate: 0.2 }, widthScale: 0.125, seed: 1 });
      } catch (error) {
        rows.push({ arch, encoder, refused: `zoo: ${(error as Error).message.split(/[.:] /)[0]}` });
        continue;
      }
      try {
        const bytes = exportOnnx(net.model, net.config, packageMetadata(net.config, { modelKey: `onnx-check/${arch}-${encoder}` }, undefined));
        const file = path.join(dir, `${arch}-${encoder}.onnx`);
        fs.writeFileSync(file, bytes);
        rows.push({ arch, encoder, file, kib: bytes.length / 1024 });
      } catch (error) {
        rows.push({ arch, encoder, refused: `export: ${(error as Error).message}` });
      } finally {
        net.model.dispose();
      }
    }
  }
  const files = rows.flatMap((r) => (r.file ? [r.file] : []));
  const checked = spawnSync(python, ['-c', CHECKER, ...files], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (checked.status !== 0) throw new Error(`the checker failed to run (${python}): ${checked.stderr}`);
  const lines = checked.stdout.trim().split('\n').map((line) => JSON.parse(line) as { file?: string; ok?: boolean; error?: string; onnx?: string });
  const verdicts = new Map(lines.filter((l) => l.file).map((l) => [l.file!, l]));
  const version = lines.find((l) => l.onnx)?.onnx;

  console.log(`\nonnx ${version} checker.check_model(full_check=True), files in ${dir}\n`);
  console.log('| architecture | encoder | KiB | checker |');
  console.log('| --- | --- | ---: | --- |');
  let failed = 0;
  for (const row of rows) {
    const verdict = row.file ? verdicts.get(row.file) : undefined;
    const result = row.refused ?? (verdict?.ok ? 'ok' : `FAIL: ${verdict?.error ?? 'no verdict'}`);
    if (!row.refused?.startsWith('zoo:') && !verdict?.ok) failed++;
    console.log(`| ${row.arch} | ${row.encoder} | ${row.kib?.toFixed(0) ?? '—'} | ${result} |`);
  }
  const passed = rows.filter((r) => r.file && verdicts.get(r.file)?.ok).length;
  console.log(`\n${passed} passed, ${failed} failed, ${rows.filter((r) => r.refused?.startsWith('zoo:')).length} combinations the zoo does not build`);
  if (!options.keep) fs.rmSync(dir, { recursive: true, force: true });
  if (failed > 0) process.exit(1);
}

await main();
