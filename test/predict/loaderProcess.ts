/**
 * Run in a fresh process by the export round-trip test: imports only the package loader (and Node's fs), loads a
 * package and writes the masks of the frames it is given, batch by batch.
 *   tsx test/predict/loaderProcess.ts <package dir> <job.json> <out.json>
 * job.json: { batchSize, frames: [{ id, width, height, file, crop? }] } — `file` holds the frame as little-endian
 * 16-bit grey (value / 65535 is the grey level). out.json: { backend, inputSize, masks: { id: base64 0/1 bytes } }.
 */
import fs from 'node:fs';
import { type FrameRegion, loadSegmentationModel } from '../../export/loader';

interface Job {
  batchSize: number;
  frames: { id: string; width: number; height: number; file: string; crop?: FrameRegion }[];
}

const [dir, jobFile, outFile] = process.argv.slice(2);
const job = JSON.parse(fs.readFileSync(jobFile, 'utf8')) as Job;
const seg = await loadSegmentationModel(dir);
const masks: Record<string, string> = {};
for (let start = 0; start < job.frames.length; start += job.batchSize) {
  const batch = job.frames.slice(start, start + job.batchSize).map((f) => {
    const bytes = fs.readFileSync(f.file);
    const values = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
    return { image: { width: f.width, height: f.height, data: Float32Array.from(values, (v) => v / 65535) }, crop: f.crop };
  });
  seg.predictMasks(batch).forEach((mask, i) => {
    masks[job.frames[start + i].id] = Buffer.from(mask).toString('base64');
  });
}
fs.writeFileSync(outFile, JSON.stringify({ backend: seg.backend, inputSize: seg.inputSize, metadata: seg.metadata, masks }));
seg.dispose();
