/**
 * Checks the DICOM SEG objects `predict --dicom-seg` wrote with readers no one here wrote: each SEG file is read by
 * highdicom (`hd.seg.segread`), its referenced source instances are compared with the SOP Instance UIDs pydicom reads
 * from the input files, and every frame decoded by highdicom (`get_pixels_by_source_frame`) must equal the mask PNG
 * predict wrote for that source frame; every predicted frame must be in a SEG. highdicom and pydicom are installed
 * into the optional tools venv (scripts/torchVenv.ts) on first use. Prints a table; exits 1 if a check fails. Not
 * part of `npm test`: test/pacs/segResults.e2e.test.ts reads the SEGs back with dicom-parser.
 *
 *   npx tsx scripts/seg-check.ts --input DIR --out DIR [--seg DIR] [--python PATH]
 *
 * `--input` and `--out` are predict's (the DICOM folder and the outputs); `--seg` is its `--dicom-seg` folder
 * (default `<out>/dicom-seg`).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { scanInputFolder } from '../cli/predictInputs';
import { predictKeys } from '../contracts';
import { benchOptions, printCommand } from './benchArgs';
import { segPython } from './torchVenv';

const USAGE = 'npx tsx scripts/seg-check.ts --input DIR --out DIR [--seg DIR] [--python PATH]';

/** One JSON line per SEG file, then one with the versions and the predicted frames no SEG holds. */
const CHECKER = `
import json, sys
import numpy as np, pydicom, highdicom as hd
manifest = json.load(open(sys.argv[1]))
source_uid = {}
for f in manifest["frames"]:
    if f["source"] not in source_uid:
        source_uid[f["source"]] = str(pydicom.dcmread(f["source"], stop_before_pixels=True).SOPInstanceUID)
expected = {(source_uid[f["source"]], f["frame"]): f for f in manifest["frames"]}
covered = set()
for path in manifest["segs"]:
    row = {"file": path}
    try:
        seg = hd.seg.segread(path)
        segments = seg.SegmentSequence
        row["segments"] = len(segments)
        row["label"] = str(segments[0].SegmentLabel)
        row["algorithm"] = f"{segments[0].AlgorithmName} {segments[0].AlgorithmVersion}"
        row["size"] = [int(seg.Columns), int(seg.Rows)]
        instances = sorted({uid for (_study, _series, uid) in seg.get_source_image_uids()})
        row["instances"] = len(instances)
        row["unknown_instances"] = sum(1 for uid in instances if uid not in source_uid.values())
        frames = mismatched = unexpected = foreground = 0
        for uid in instances:
            numbers = sorted(int(group.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber)
                             for group in seg.PerFrameFunctionalGroupsSequence
                             if group.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID == uid)
            pixels = seg.get_pixels_by_source_frame(source_sop_instance_uid=uid, source_frame_numbers=numbers)
            for i, number in enumerate(numbers):
                frames += 1
                foreground += int(pixels[i].sum())
                want = expected.get((uid, number))
                if want is None:
                    unexpected += 1
                    continue
                covered.add((uid, number))
                mask = np.fromfile(want["mask"], dtype=np.uint8).reshape(want["rows"], want["columns"])
                if not np.array_equal(pixels[i, :, :, 0].astype(np.uint8), mask):
                    mismatched += 1
        row.update(frames=frames, mismatched=mismatched, unexpected=unexpected, foreground=foreground)
        row["ok"] = row["segments"] == 1 and row["unknown_instances"] == 0 and mismatched == 0 and unexpected == 0
    except Exception as error:
        row.update(ok=False, error=f"{type(error).__name__}: {str(error).splitlines()[0][:200]}")
    print(json.dumps(row))
print(json.dumps({"highdicom": hd.__version__, "pydicom": pydicom.__version__, "missing": len(set(expected) - covered), "predicted": len(expected)}))
`;

interface Row {
  file: string;
  ok: boolean;
  segments?: number;
  label?: string;
  algorithm?: string;
  size?: [number, number];
  instances?: number;
  unknown_instances?: number;
  frames?: number;
  mismatched?: number;
  unexpected?: number;
  foreground?: number;
  error?: string;
}

function refuse(message: string): never {
  console.error(`${message}\nusage: ${USAGE}`);
  process.exit(2);
}

async function main(): Promise<void> {
  const options = benchOptions(USAGE, { input: { type: 'string' }, out: { type: 'string' }, seg: { type: 'string' }, python: { type: 'string' } });
  if (!options.input || !options.out) refuse('give --input (the DICOM folder predict read) and --out (its outputs)');
  printCommand('seg-check.ts');
  const input = path.resolve(options.input);
  const out = path.resolve(options.out);
  const segDir = path.resolve(options.seg ?? path.join(out, 'dicom-seg'));
  if (!fs.existsSync(segDir)) refuse(`${segDir} does not exist: run predict with --dicom-seg (or --stow) first`);
  const segs = fs.readdirSync(segDir).filter((f) => f.endsWith('.dcm')).sort().map((f) => path.join(segDir, f));
  if (segs.length === 0) refuse(`${segDir} holds no .dcm file`);

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-seg-check-'));
  try {
    const scan = await scanInputFolder(input, 'dicom');
    const frames = [];
    for (const item of scan.items) {
      if (item.source.kind !== 'file') continue;
      const png = path.join(out, predictKeys.mask('', item.id));
      if (!fs.existsSync(png)) continue;
      const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
      const mask = Uint8Array.from({ length: info.width * info.height }, (_, i) => (data[i * info.channels] >= 128 ? 1 : 0));
      const file = path.join(scratch, `${frames.length}.bin`);
      fs.writeFileSync(file, mask);
      frames.push({ source: item.source.path, frame: item.source.frame, mask: file, rows: info.height, columns: info.width });
    }
    if (frames.length === 0) refuse(`${out} holds no mask of a frame of ${input}: give predict's --input and --out`);
    const manifest = path.join(scratch, 'manifest.json');
    fs.writeFileSync(manifest, JSON.stringify({ segs, frames }));

    const python = segPython(options.python);
    const checked = spawnSync(python, ['-c', CHECKER, manifest], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (checked.status !== 0) throw new Error(`the checker failed to run (${python}): ${checked.stderr}`);
    const lines = checked.stdout.trim().split('\n').map((line) => JSON.parse(line) as Row & { highdicom?: string; pydicom?: string; missing?: number; predicted?: number });
    const summary = lines.find((l) => l.highdicom)!;
    const rows = lines.filter((l) => l.file);

    console.log(`\nhighdicom ${summary.highdicom} segread + get_pixels_by_source_frame, pydicom ${summary.pydicom} for the source UIDs; SEGs in ${segDir}\n`);
    console.log('| SEG file | size | segment | algorithm | source instances (unknown) | frames | foreground px | mask mismatches | verdict |');
    console.log('| --- | --- | --- | --- | --- | ---: | ---: | ---: | --- |');
    for (const row of rows) {
      const verdict = row.ok ? 'ok' : `FAIL${row.error ? `: ${row.error}` : ''}`;
      console.log(`| ${path.basename(row.file)} | ${row.size?.join('×') ?? '—'} | ${row.label ?? '—'} (${row.segments ?? '—'}) | ${row.algorithm ?? '—'} | ` +
        `${row.instances ?? '—'} (${row.unknown_instances ?? '—'}) | ${row.frames ?? '—'} | ${row.foreground ?? '—'} | ${row.mismatched ?? '—'} | ${verdict} |`);
    }
    const failed = rows.filter((r) => !r.ok).length;
    console.log(`\n${rows.length - failed} of ${rows.length} SEG files pass; ${summary.predicted! - summary.missing!} of ${summary.predicted} predicted frames are in a SEG`);
    if (failed > 0 || summary.missing! > 0) process.exit(1);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
