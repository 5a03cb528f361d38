/**
 * predict's SEG step without a model or services: mask PNGs as predict writes them, for a folder of DICOM files, give
 * one SEG per source series with each frame's mask and source reference; inputs a SEG cannot come from are refused;
 * a STOW answer is mapped back to the SEG files it stored or refused (a stand-in server, the client's logic only).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { scanInputFolder } from '../../cli/predictInputs';
import { predictKeys, type PredictItem } from '../../contracts';
import { segInputProblem, stowSegResults, writeSegResults } from '../../export/segResults';
import { fakeIdentity, sopClass, transferSyntax, writeDicom } from '../data/dicomFixtures';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-seg-results-'));
const rows = 12;
const columns = 16;
const algorithm = { name: 'echo-al Unet-resnet18', version: 'sha256:0123' };

afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A distinct mask per item: a band whose position depends on the index. */
function maskOf(index: number): Uint8Array {
  return Uint8Array.from({ length: rows * columns }, (_, i) => (Math.floor(i / columns) === index % rows || i % columns === index % columns ? 1 : 0));
}

async function setUp() {
  const input = path.join(scratch, 'input');
  const out = path.join(scratch, 'out');
  fs.mkdirSync(input, { recursive: true });
  const identities = { a: fakeIdentity(71, 1, 1), b: fakeIdentity(71, 1, 2), c: fakeIdentity(72, 1, 1) };
  for (const [name, identity, frames] of [['a', identities.a, 2], ['b', identities.b, 3], ['c', identities.c, 1]] as const) {
    const { bytes } = await writeDicom({ transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame, rows, columns, frames, identity });
    fs.writeFileSync(path.join(input, `${name}.dcm`), bytes);
  }
  const { items } = await scanInputFolder(input, 'dicom');
  const masks = new Map<string, Uint8Array>();
  for (const [index, item] of items.entries()) {
    const file = path.join(out, predictKeys.mask('', item.id));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const mask = maskOf(index);
    await sharp(Buffer.from(mask.map((v) => v * 255)), { raw: { width: columns, height: rows, channels: 1 } }).png().toFile(file);
    if (item.source.kind === 'file') masks.set(`${path.basename(item.source.path)}#${item.source.frame}`, mask);
  }
  return { input, out, items, identities, masks };
}

function framesOf(file: string) {
  const bytes = fs.readFileSync(file);
  const ds = dicomParser.parseDicom(bytes);
  const pixels = ds.elements.x7fe00010;
  return ds.elements.x52009230.items!.map((item, index) => {
    const source = item.dataSet!.elements.x00089124.items![0].dataSet!.elements.x00082112.items![0].dataSet!;
    const mask = Uint8Array.from({ length: rows * columns }, (_, i) => {
      const bit = index * rows * columns + i;
      return (bytes[pixels.dataOffset + (bit >> 3)] >> (bit & 7)) & 1;
    });
    return { instance: source.string('x00081155'), frame: source.intString('x00081160'), mask };
  });
}

describe('writeSegResults and stowSegResults', () => {
  it('writes one SEG per series from the mask PNGs, and maps a STOW answer back to the files it stored or refused', async () => {
    const { out, items, identities, masks } = await setUp();
    const segDir = path.join(out, 'dicom-seg');
    const written = await writeSegResults({ items, predictionsDir: out, segDir, algorithm });
    expect(written.map((w) => ({ file: path.basename(w.file), instances: w.instances, frames: w.frames }))).toEqual([
      { file: 'a.seg.dcm', instances: 2, frames: 5 }, { file: 'c.seg.dcm', instances: 1, frames: 1 },
    ]);
    expect(fs.readdirSync(segDir).sort()).toEqual(['a.seg.dcm', 'c.seg.dcm']);
    const names = new Map([[identities.a.instanceUid, 'a.dcm'], [identities.b.instanceUid, 'b.dcm'], [identities.c.instanceUid, 'c.dcm']]);
    const frames = written.flatMap((w) => framesOf(w.file));
    expect(frames.map((f) => `${names.get(f.instance!)}#${f.frame}`)).toEqual(['a.dcm#1', 'a.dcm#2', 'b.dcm#1', 'b.dcm#2', 'b.dcm#3', 'c.dcm#1']);
    for (const f of frames) expect(f.mask).toEqual(masks.get(`${names.get(f.instance!)}#${f.frame}`));

    // The server stores the first SEG and refuses the second (0xA700: out of resources).
    const item = (uid: string, reason?: number) => ({ '00081155': { vr: 'UI', Value: [uid] }, ...(reason ? { '00081197': { vr: 'US', Value: [reason] } } : {}) });
    const answer = { '00081199': { vr: 'SQ', Value: [item(written[0].sopInstance)] }, '00081198': { vr: 'SQ', Value: [item(written[1].sopInstance, 0xa700)] } };
    const stub: typeof fetch = () => Promise.resolve(Response.json(answer, { status: 202 }));
    const report = await stowSegResults(written, { url: 'http://pacs.test/dicom-web', fetch: stub });
    expect(report).toEqual({ url: 'http://pacs.test/dicom-web', stored: [written[0].file], failed: [{ file: written[1].file, reason: 'failure reason 0xA700' }] });
    const silent: typeof fetch = () => Promise.resolve(Response.json({ '00081199': { vr: 'SQ', Value: [item(written[1].sopInstance)] } }));
    expect((await stowSegResults(written, { url: 'http://pacs.test/dicom-web', fetch: silent })).failed).toEqual([{ file: written[0].file, reason: 'not listed as stored by the server' }]);
  });

  it('refuses inputs a SEG cannot reference: a dataset, non-DICOM images, a mask of another size', async () => {
    const dataset: PredictItem = { id: 'x', group: 'g', order: 1, originalSize: [rows, columns], source: { kind: 'dataset', datasetId: 'd', itemId: 'x' } };
    expect(segInputProblem([dataset])).toContain('a dataset stores no DICOM UIDs');
    const png: PredictItem = { ...dataset, source: { kind: 'file', path: '/x.png', format: 'png', frame: 1, stamp: '1:1' } };
    expect(segInputProblem([png])).toContain('the inputs are png images, not DICOM');
    await expect(writeSegResults({ items: [png], predictionsDir: scratch, segDir: path.join(scratch, 'never'), algorithm })).rejects.toThrow('not DICOM');
    expect(fs.existsSync(path.join(scratch, 'never'))).toBe(false);

    const { out, items } = await setUp();
    await sharp(Buffer.alloc(4 * 4), { raw: { width: 4, height: 4, channels: 1 } }).png().toFile(path.join(out, predictKeys.mask('', items[0].id)));
    await expect(writeSegResults({ items, predictionsDir: out, segDir: path.join(out, 'seg-bad'), algorithm })).rejects.toThrow(`has 16 pixels but the source frame is ${columns}×${rows}`);
  });
});
