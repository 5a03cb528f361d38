/**
 * Label Studio formats without a server: brush RLE (checked against Label Studio's own Python converter),
 * polygon rasterisation, request item → task, mask → prediction, annotation → mask.
 */
import { describe, expect, it } from 'vitest';
import { DATA_FIELDS, labelConfigXml, LV_LABEL, TAGS, UNUSABLE_CHOICE } from '../../labelling/labelStudio/config';
import { annotationToMasks, predictionFromMask, taskFromRequestItem, type AnnotationMasks } from '../../labelling/labelStudio/convert';
import { polygonToMask } from '../../labelling/labelStudio/polygon';
import { brushRleToMask, brushRleToRgba, BrushRleError, maskToBrushRle } from '../../labelling/labelStudio/rle';
import type { LsAnnotation, LsResult } from '../../labelling/labelStudio/types';
import { randomMask, runLabelStudioPython } from './helpers';

interface MaskCase {
  name: string;
  width: number;
  height: number;
  mask: Uint8Array;
}

function maskCases(): MaskCase[] {
  const make = (name: string, width: number, height: number, set: (mask: Uint8Array) => void): MaskCase => {
    const mask = new Uint8Array(width * height);
    set(mask);
    return { name, width, height, mask };
  };
  return [
    make('1×1 empty', 1, 1, () => {}),
    make('1×1 full', 1, 1, (m) => m.fill(1)),
    make('empty 128×128 (one run of exactly 65536 values)', 128, 128, () => {}),
    make('full 129×127', 129, 127, (m) => m.fill(1)),
    make('empty 150×150 (runs longer than 65536 values)', 150, 150, () => {}),
    make('last pixel only', 150, 150, (m) => { m[m.length - 1] = 1; }),
    make('first pixel and one 16384 pixels later', 150, 150, (m) => { m[0] = 1; m[16384] = 1; }),
    { name: 'random 23×17', width: 23, height: 17, mask: randomMask(23, 17, 7) },
    { name: 'random 64×48', width: 64, height: 48, mask: randomMask(64, 48, 11) },
  ];
}

const pythonBrush = `
import json, sys
import numpy as np
from label_studio_sdk.converter.brush import decode_rle, encode_rle, mask2rle
req = json.load(sys.stdin)
out = {"decoded": [], "encoded": [], "rgba": []}
for c in req["ours"]:
    flat = decode_rle(c["rle"])
    rgba = np.reshape(flat, [c["h"], c["w"], 4])
    out["decoded"].append({"alpha": rgba[:, :, 3].ravel().tolist(),
                           "channels_equal": bool((rgba[:, :, 0] == rgba[:, :, 3]).all() and (rgba[:, :, 1] == rgba[:, :, 3]).all() and (rgba[:, :, 2] == rgba[:, :, 3]).all())})
for c in req["masks"]:
    out["encoded"].append(mask2rle(np.array(c["mask"], dtype=np.uint8).reshape(c["h"], c["w"]) * 255))
out["rgba"] = encode_rle(np.array(req["rgba"], dtype=np.uint8))
print(json.dumps(out))
`;

describe('brush RLE', () => {
  it('round-trips masks of every shape, including runs longer than the format\'s 16-bit run length', () => {
    for (const c of maskCases()) {
      const rle = maskToBrushRle(c.mask, c.width, c.height);
      expect(brushRleToMask(rle, c.width, c.height), c.name).toEqual(c.mask);
      const rgba = brushRleToRgba(rle, c.width, c.height);
      expect(rgba.length).toBe(c.width * c.height * 4);
      for (let i = 0; i < c.mask.length; i++) {
        if (rgba[i * 4 + 3] !== c.mask[i] * 255) throw new Error(`${c.name}: pixel ${i} alpha ${rgba[i * 4 + 3]}`);
      }
    }
  });

  it('agrees with Label Studio\'s own Python converter in both directions, byte for byte', () => {
    const cases = maskCases();
    const ours = cases.map((c) => maskToBrushRle(c.mask, c.width, c.height));
    // An anti-aliased stroke edge: alpha 127 is background, 128 foreground.
    const edgeAlpha = [0, 127, 128, 255, 255, 128, 127, 0];
    const edgeRgba = edgeAlpha.flatMap((a) => [a, a, a, a]);
    const py = runLabelStudioPython<{ decoded: { alpha: number[]; channels_equal: boolean }[]; encoded: number[][]; rgba: number[] }>(pythonBrush, {
      ours: cases.map((c, i) => ({ rle: ours[i], w: c.width, h: c.height })),
      masks: cases.map((c) => ({ mask: Array.from(c.mask), w: c.width, h: c.height })),
      rgba: edgeRgba,
    });
    cases.forEach((c, i) => {
      // Python reads our bytes back to the same mask, every channel carrying the alpha (the editor's convention).
      expect(py.decoded[i].alpha, c.name).toEqual(Array.from(c.mask, (v) => v * 255));
      expect(py.decoded[i].channels_equal, c.name).toBe(true);
      // We read Python's bytes back to the same mask.
      expect(brushRleToMask(py.encoded[i], c.width, c.height), c.name).toEqual(c.mask);
      // Same bitstream; Python pads a whole zero byte when the stream already ends on a byte boundary.
      expect(py.encoded[i].slice(0, ours[i].length), c.name).toEqual(ours[i]);
      expect(py.encoded[i].slice(ours[i].length).every((b) => b === 0), c.name).toBe(true);
      expect(py.encoded[i].length - ours[i].length).toBeLessThanOrEqual(1);
    });
    expect(Array.from(brushRleToRgba(py.rgba, 4, 2))).toEqual(edgeRgba);
    expect(Array.from(brushRleToMask(py.rgba, 4, 2))).toEqual([0, 0, 1, 1, 1, 1, 0, 0]);
  });

  it('rejects RLE of another size, truncated RLE and masks of the wrong length with a clear error', () => {
    const rle = maskToBrushRle(randomMask(6, 4, 3), 6, 4);
    expect(() => brushRleToMask(rle, 5, 4)).toThrow(BrushRleError);
    expect(() => brushRleToMask(rle, 5, 4)).toThrow('brush RLE holds 96 values; a 5×4 RGBA mask needs 80');
    expect(() => brushRleToMask(rle.slice(0, rle.length - 3), 6, 4)).toThrow(/truncated or corrupt/);
    expect(() => brushRleToMask([0, 0, 0], 6, 4)).toThrow(/shorter than its 7-byte header/);
    expect(() => brushRleToMask([...rle.slice(0, -1), 300], 6, 4)).toThrow(/not 0–255/);
    expect(() => maskToBrushRle(new Uint8Array(10), 6, 4)).toThrow('mask has 10 values; 6×4 needs 24');
  });
});

describe('polygon rasterisation', () => {
  const area = (mask: Uint8Array) => mask.reduce((sum, v) => sum + v, 0);
  const rows = (mask: Uint8Array, width: number) => Array.from({ length: mask.length / width }, (_, y) => Array.from(mask.subarray(y * width, (y + 1) * width)).join(''));

  it('fills an axis-aligned rectangle with exactly its area, at the right pixels', () => {
    const mask = polygonToMask([[25, 25], [75, 25], [75, 75], [25, 75]], 8, 4);
    expect(rows(mask, 8)).toEqual(['00000000', '00111100', '00111100', '00000000']);
    const wide = polygonToMask([[10, 0], [90, 0], [90, 100], [10, 100]], 10, 3);
    expect(area(wide)).toBe(8 * 3);
  });

  it('samples pixel centres: a centre on the right/lower edge is outside', () => {
    // Hypotenuse x + y = 4 passes exactly through the centres of pixels with x + y = 3.
    expect(rows(polygonToMask([[0, 0], [100, 0], [0, 100]], 4, 4), 4)).toEqual(['1110', '1100', '1000', '0000']);
  });

  it('uses the even-odd rule (a pentagram\'s centre is a hole) and clips to the image', () => {
    const star = [0, 1, 2, 3, 4].map((k) => {
      const angle = ((-90 + k * 144) * Math.PI) / 180;
      return [50 + 48 * Math.cos(angle), 50 + 48 * Math.sin(angle)] as [number, number];
    });
    const mask = polygonToMask(star, 21, 21);
    expect(mask[10 * 21 + 10]).toBe(0);
    expect(mask[3 * 21 + 10]).toBe(1);
    expect(area(polygonToMask([[-50, -50], [150, -50], [150, 150], [-50, 150]], 5, 3))).toBe(15);
  });

  it('lets two polygons that share an edge never claim the same pixel', () => {
    const left = polygonToMask([[0, 0], [37, 0], [61, 100], [0, 100]], 13, 7);
    const right = polygonToMask([[37, 0], [100, 0], [100, 100], [61, 100]], 13, 7);
    expect(left.some((v, i) => v && right[i])).toBe(false);
    expect(area(left) + area(right)).toBe(13 * 7);
  });

  it('rejects a polygon of fewer than 3 points or with non-numbers', () => {
    expect(() => polygonToMask([[0, 0], [10, 10]], 4, 4)).toThrow('a polygon needs at least 3 points, got 2');
    expect(() => polygonToMask([[0, 0], [10, Number.NaN], [5, 5]], 4, 4)).toThrow(/point 1/);
  });
});

describe('task, prediction and annotation conversion', () => {
  const item = {
    id: 'video003_frame012', group: 'video003', score: 0.123456, imageKey: 'runs/r/phase-0/images/video003_frame012.png',
    imageUrl: 'http://127.0.0.1:9000/echo-al/img.png?X-Amz-Signature=abc', uncertaintyMapUrl: 'http://127.0.0.1:9000/echo-al/map.png?X-Amz-Signature=def',
    maskUploadKey: 'runs/r/uploads/phase-0/video003_frame012.png', maskUploadUrl: 'http://127.0.0.1:9000/echo-al/upload?X-Amz-Signature=put',
  };

  it('builds a task from display URLs and identifiers only', () => {
    const task = taskFromRequestItem(item, { runId: 'lv-study', phase: 2 });
    expect(task.data).toEqual({
      [DATA_FIELDS.image]: item.imageUrl,
      [DATA_FIELDS.uncertaintyMap]: item.uncertaintyMapUrl,
      [DATA_FIELDS.caption]: 'video003_frame012 · uncertainty score 0.1235 · run lv-study, phase 2',
      [DATA_FIELDS.score]: 0.123456,
      [DATA_FIELDS.itemId]: 'video003_frame012',
      [DATA_FIELDS.group]: 'video003',
      [DATA_FIELDS.runId]: 'lv-study',
      [DATA_FIELDS.phase]: 2,
      [DATA_FIELDS.purpose]: '',
    });
    expect(JSON.stringify(task)).not.toContain('upload');
    const forTest = taskFromRequestItem({ ...item, purpose: 'test' }, { runId: 'lv-study', phase: 0 });
    expect(forTest.data).toMatchObject({ [DATA_FIELDS.purpose]: 'test' });
    expect(forTest.data.caption).toBe('video003_frame012 · for the test set · uncertainty score 0.1235 · run lv-study, phase 0');
    const noMap = taskFromRequestItem({ ...item, uncertaintyMapUrl: undefined }, { runId: 'r', phase: 0 });
    expect(noMap.data.uncertainty_map).toBe('');
    expect(noMap.data.caption).toContain('no uncertainty map');
    expect(() => taskFromRequestItem({ ...item, imageUrl: 'http://user:secret@127.0.0.1:9000/x.png' }, { runId: 'r', phase: 0 }))
      .toThrow(/carries a user name or password/);
    expect(() => taskFromRequestItem({ ...item, imageUrl: 'file:///etc/passwd' }, { runId: 'r', phase: 0 })).toThrow(/must be http\(s\)/);
  });

  it('turns a model mask into a brush prediction on the config\'s tags, and an empty mask into none', () => {
    const mask = randomMask(9, 7, 5);
    const prediction = predictionFromMask(mask, 9, 7, 'phase-2-seg', 0.8);
    expect(prediction.model_version).toBe('phase-2-seg');
    expect(prediction.result).toHaveLength(1);
    const [region] = prediction.result;
    expect(region).toMatchObject({ type: 'brushlabels', from_name: TAGS.brush, to_name: TAGS.image, original_width: 9, original_height: 7 });
    expect(region.value.brushlabels).toEqual([LV_LABEL]);
    expect(brushRleToMask(region.value.rle as number[], 9, 7)).toEqual(mask);
    const config = labelConfigXml();
    expect(config).toContain(`<BrushLabels name="${TAGS.brush}" toName="${TAGS.image}">`);
    expect(config).toContain(`<Image name="${TAGS.image}" value="$${DATA_FIELDS.image}"`);
    expect(predictionFromMask(new Uint8Array(63), 9, 7, 'm', 0.1).result).toEqual([]);
  });

  it('Label Studio\'s own validator accepts the config and the prediction', () => {
    const prediction = predictionFromMask(randomMask(9, 7, 5), 9, 7, 'phase-2-seg', 0.8);
    const errors = runLabelStudioPython<string[] | null>(`
import json, sys
from label_studio_sdk.label_interface import LabelInterface
req = json.load(sys.stdin)
li = LabelInterface(req["config"])
print(json.dumps(li.validate_prediction(req["prediction"], return_errors=True)))
`, { config: labelConfigXml(), prediction });
    expect(errors ?? []).toEqual([]);
    // The unusable choice is a result the config accepts too.
    const choice = { model_version: 'm', score: 0, result: [{ type: 'choices', from_name: TAGS.unusable, to_name: TAGS.image, value: { choices: [UNUSABLE_CHOICE] } }] };
    const choiceErrors = runLabelStudioPython<string[] | null>(`
import json, sys
from label_studio_sdk.label_interface import LabelInterface
req = json.load(sys.stdin)
print(json.dumps(LabelInterface(req["config"]).validate_prediction(req["prediction"], return_errors=True)))
`, { config: labelConfigXml(), prediction: choice });
    expect(choiceErrors ?? []).toEqual([]);
  });

  const brush = (mask: Uint8Array, w: number, h: number, labels = [LV_LABEL]): LsResult => ({
    type: 'brushlabels', from_name: TAGS.brush, to_name: TAGS.image, original_width: w, original_height: h,
    value: { format: 'rle', rle: maskToBrushRle(mask, w, h), brushlabels: labels },
  });
  const polygon = (points: [number, number][], w: number, h: number, labels = [LV_LABEL]): LsResult => ({
    type: 'polygonlabels', from_name: TAGS.polygon, to_name: TAGS.image, original_width: w, original_height: h,
    value: { points, polygonlabels: labels, closed: true },
  });
  const annotation = (result: LsResult[], extra: Partial<LsAnnotation> = {}): LsAnnotation => ({
    id: 7, result, completed_by: 3, lead_time: 12.5, updated_at: '2026-01-02T03:04:05Z', ...extra,
  });

  it('reads a brush, a polygon and both together as one mask, with who, how long and when', () => {
    const w = 8;
    const h = 6;
    const drawn = randomMask(w, h, 9);
    const fromBrush = annotationToMasks(annotation([brush(drawn, w, h)]), w, h) as AnnotationMasks;
    expect(fromBrush.kind).toBe('brush');
    expect(fromBrush.mask).toEqual(drawn);
    expect(fromBrush).toMatchObject({ completedBy: 3, leadTime: 12.5, updatedAt: '2026-01-02T03:04:05Z', regions: 1 });
    const square: [number, number][] = [[0, 0], [50, 0], [50, 50], [0, 50]];
    const fromPolygon = annotationToMasks(annotation([polygon(square, w, h)]), w, h) as AnnotationMasks;
    expect(fromPolygon.kind).toBe('polygon');
    expect(fromPolygon.mask.reduce((s, v) => s + v, 0)).toBe(4 * 3);
    const both = annotationToMasks(annotation([brush(drawn, w, h), polygon(square, w, h)]), w, h) as AnnotationMasks;
    expect(both.kind).toBe('mixed');
    expect(Array.from(both.mask)).toEqual(Array.from(drawn, (v, i) => v | fromPolygon.mask[i]));
    expect(Array.from(both.rgba.filter((_, i) => i % 4 === 3))).toEqual(Array.from(both.mask, (v) => v * 255));
    const byObject = annotationToMasks(annotation([brush(drawn, w, h)], { completed_by: { id: 4, email: 'dr@example.org' } }), w, h) as AnnotationMasks;
    expect(byObject).toMatchObject({ completedBy: 4, completedByEmail: 'dr@example.org' });
  });

  it('gives a reason instead of a mask for every annotation it cannot use', () => {
    const m = randomMask(4, 4, 1);
    const square: [number, number][] = [[0, 0], [50, 0], [50, 50]];
    const reasonOf = (a: LsAnnotation, w = 4, h = 4) => (annotationToMasks(a, w, h) as { error?: string }).error;
    expect(reasonOf(annotation([brush(m, 4, 4)], { was_cancelled: true }))).toBe('annotation 7 was skipped (cancelled) by the annotator');
    expect(reasonOf(annotation([]))).toBe('annotation 7 has no regions');
    expect(reasonOf(annotation([polygon(square, 4, 4, ['RV'])]))).toBe("annotation 7: region 0 is labelled 'RV', not 'LV'");
    expect(reasonOf(annotation([brush(m, 4, 4), { ...polygon(square, 4, 4), type: 'rectanglelabels' }]))).toMatch(/region 1 has type 'rectanglelabels'/);
    expect(reasonOf(annotation([brush(m, 4, 4)]), 5, 4)).toBe('annotation 7: region 0 was drawn on a 4×4 image; the image is 5×4');
    const unsized = brush(m, 4, 4);
    delete unsized.original_width;
    delete unsized.original_height;
    expect(reasonOf(annotation([unsized]), 5, 4)).toMatch(/brush region 0: brush RLE holds 64 values; a 5×4 RGBA mask needs 80/);
    expect(reasonOf(annotation([{ ...polygon(square, 4, 4), to_name: TAGS.uncertaintyMap }]))).toMatch(/not the 'image' image/);
    expect(reasonOf(annotation([unusableChoice([UNUSABLE_CHOICE]), brush(m, 4, 4)])))
      .toBe('annotation 7 marks the frame unusable and outlines it as well; do one or the other');
    expect(reasonOf(annotation([unusableChoice([])]))).toBe('annotation 7 has no regions');
  });

  const unusableChoice = (choices: string[]): LsResult => ({ type: 'choices', from_name: TAGS.unusable, to_name: TAGS.image, value: { choices } });

  it('reads the unusable choice, alone, as a frame marked unusable, with who and how long', () => {
    const marked = annotationToMasks(annotation([unusableChoice([UNUSABLE_CHOICE])]), 4, 4);
    expect(marked).toEqual({ unusable: true, completedBy: 3, leadTime: 12.5, updatedAt: '2026-01-02T03:04:05Z' });
    expect(labelConfigXml()).toContain(`<Choices name="${TAGS.unusable}" toName="${TAGS.image}"`);
    expect(labelConfigXml()).toContain(`<Choice value="${UNUSABLE_CHOICE}"/>`);
  });
});
