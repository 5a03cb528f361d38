import { describe, expect, it } from 'vitest';
import {
  contourRadius, DEFAULT_HETEROGENEITY, generateSyntheticEcho, generateSyntheticVideo, HETEROGENEITY_KINDS, heterogeneityOf, heterogeneousVideos,
  insideSector, type Contour, type HeterogeneityKind, type SyntheticFrame, type SyntheticOptions,
} from '../../data/synthetic';

function meanWhere(frame: SyntheticFrame, pick: (label: number) => boolean): number {
  let sum = 0;
  let n = 0;
  frame.labels.forEach((label, i) => {
    if (pick(label)) {
      sum += frame.image[i];
      n++;
    }
  });
  return sum / n;
}

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

describe('synthetic echo generator', () => {
  const frames = generateSyntheticEcho({ videos: 3, framesPerVideo: 6, size: 64, seed: 7 });

  it('makes videos × frames frames of the requested size, named by video and frame', () => {
    expect(frames).toHaveLength(18);
    expect(frames[7].id).toBe('video001_frame001');
    expect(frames[7].group).toBe('video001');
    for (const f of frames) {
      expect(f.image).toHaveLength(64 * 64);
      expect(f.mask).toHaveLength(64 * 64);
      expect(Math.min(...f.image)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...f.image)).toBeLessThanOrEqual(1);
    }
    const wide = generateSyntheticEcho({ videos: 1, framesPerVideo: 1, size: [48, 80], seed: 1 });
    expect([wide[0].height, wide[0].width]).toEqual([48, 80]);
  });

  it('is deterministic: the same seed gives identical bytes, another seed different ones', () => {
    const again = generateSyntheticEcho({ videos: 3, framesPerVideo: 6, size: 64, seed: 7 });
    const other = generateSyntheticEcho({ videos: 3, framesPerVideo: 6, size: 64, seed: 8 });
    for (let i = 0; i < frames.length; i++) {
      expect(Buffer.from(again[i].image.buffer).equals(Buffer.from(frames[i].image.buffer))).toBe(true);
      expect(Buffer.from(again[i].labels).equals(Buffer.from(frames[i].labels))).toBe(true);
    }
    expect(Buffer.from(other[0].image.buffer).equals(Buffer.from(frames[0].image.buffer))).toBe(false);
    expect(meanAbsDiff(other[0].image, frames[0].image)).toBeGreaterThan(0.01);
  });

  it('masks the whole drawn cavity: pixel area matches the contour area', () => {
    for (const f of frames) {
      const { cavity } = f.geometry;
      // Area enclosed by the polar contour r(θ): ½∮ r² dθ.
      const steps = 4096;
      let area = 0;
      for (let k = 0; k < steps; k++) area += 0.5 * contourRadius(cavity, (2 * Math.PI * k) / steps) ** 2 * ((2 * Math.PI) / steps);
      const pixels = f.mask.reduce((a, b) => a + b, 0);
      expect(Math.abs(pixels - area) / area).toBeLessThan(0.05);
      const labelled = f.labels.filter((l) => l === 1).length;
      expect(pixels).toBe(labelled);
    }
  });

  it('keeps the mask inside the sector and the image black outside it', () => {
    let maskOutside = 0;
    let brightOutside = 0;
    let outside = 0;
    for (const f of frames) {
      const { apexX, apexY, radius, halfAngle } = f.geometry.sector;
      for (let y = 0; y < f.height; y++) {
        for (let x = 0; x < f.width; x++) {
          const dx = x + 0.5 - apexX;
          const dy = y + 0.5 - apexY;
          const inside = dy >= 0 && Math.hypot(dx, dy) <= radius && Math.abs(Math.atan2(dx, dy)) <= halfAngle;
          if (inside) continue;
          outside++;
          maskOutside += f.mask[y * f.width + x];
          if (f.image[y * f.width + x] !== 0) brightOutside++;
        }
      }
    }
    expect(outside).toBeGreaterThan(0);
    expect(maskOutside).toBe(0);
    expect(brightOutside).toBe(0);
  });

  it('draws the cavity darker than the wall, and has all four structures', () => {
    for (const f of frames) {
      expect(meanWhere(f, (l) => l === 1)).toBeLessThan(0.5 * meanWhere(f, (l) => l === 2));
      for (const label of [1, 2, 3]) expect(f.labels.includes(label)).toBe(true);
    }
  });

  it('beats: the cavity area changes over a video, and neighbouring frames are near-duplicates', () => {
    const video0 = frames.filter((f) => f.video === 0);
    const areas = video0.map((f) => f.mask.reduce((a, b) => a + b, 0));
    expect(Math.max(...areas) / Math.min(...areas)).toBeGreaterThan(1.05);
    const neighbour = meanAbsDiff(video0[0].image, video0[1].image);
    const otherVideo = meanAbsDiff(video0[0].image, frames.find((f) => f.video === 1)!.image);
    expect(neighbour).toBeLessThan(0.6 * otherVideo);
  });
});

/** Inside a contour, computed here from its definition (not with the generator's own helper). */
function insideContour(contour: Contour, x: number, y: number): boolean {
  const dx = x - contour.cx;
  const dy = y - contour.cy;
  const u = dx * Math.cos(contour.rotation) + dy * Math.sin(contour.rotation);
  const v = -dx * Math.sin(contour.rotation) + dy * Math.cos(contour.rotation);
  return Math.hypot(u, v) < contourRadius(contour, Math.atan2(v, u));
}

const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Only `kind`, in every video. */
const only = (kind: HeterogeneityKind) => Object.fromEntries(HETEROGENEITY_KINDS.map((k) => [k, k === kind ? 1 : 0]));

describe('synthetic heterogeneity', () => {
  it('hits round(proportion × videos) videos per kind, chosen by the seed', () => {
    const options: SyntheticOptions = { videos: 20, framesPerVideo: 1, size: 16, seed: 4, heterogeneity: { depth: 0.1, gain: 0.25, foreshortened: 0, dropout: 0.5, confusion: 0.15 } };
    const hit = heterogeneousVideos(options);
    expect(Object.fromEntries(HETEROGENEITY_KINDS.map((k) => [k, hit[k].length]))).toEqual({ depth: 2, gain: 5, foreshortened: 0, dropout: 10, confusion: 3 });
    // The frames say which kinds their video has, the same as heterogeneityOf.
    const frames = generateSyntheticEcho(options);
    for (const kind of HETEROGENEITY_KINDS) {
      expect(frames.filter((f) => f.variants.includes(kind)).map((f) => f.video), kind).toEqual(hit[kind]);
    }
    expect(frames.map((f) => f.variants)).toEqual(frames.map((f) => heterogeneityOf(options, f.video)));
    // Deterministic; another seed picks other videos.
    expect(heterogeneousVideos({ ...options })).toEqual(hit);
    expect(heterogeneousVideos({ ...options, seed: 5 })).not.toEqual(hit);
    // {} means the documented defaults: 10 %, 10 %, 10 %, 15 %, 10 % of 20 videos.
    const defaults = heterogeneousVideos({ ...options, heterogeneity: {} });
    expect(HETEROGENEITY_KINDS.map((k) => defaults[k].length)).toEqual(HETEROGENEITY_KINDS.map((k) => Math.round(DEFAULT_HETEROGENEITY[k] * 20)));
    expect(HETEROGENEITY_KINDS.map((k) => defaults[k].length)).toEqual([2, 2, 2, 3, 2]);
    // Off: nobody is hit, and frames say so.
    expect(Object.values(heterogeneousVideos({ ...options, heterogeneity: undefined })).flat()).toEqual([]);
    expect(() => heterogeneousVideos({ ...options, heterogeneity: { gain: 1.5 } })).toThrow(/'gain' must be a proportion in \[0, 1\], got 1.5/);
    expect(() => generateSyntheticVideo({ ...options, heterogeneity: { glare: 0.1 } as never }, 0)).toThrow(/Unknown heterogeneity kind 'glare'/);
  });

  it('leaves every video no kind hits byte-identical, and is deterministic', () => {
    const base: SyntheticOptions = { videos: 6, framesPerVideo: 2, size: 40, seed: 11 };
    const mixed = { ...base, heterogeneity: { depth: 0.2, gain: 0.2, foreshortened: 0.2, dropout: 0.2, confusion: 0.2 } };
    const typical = generateSyntheticEcho(base);
    const varied = generateSyntheticEcho(mixed);
    const again = generateSyntheticEcho(mixed);
    expect(varied.some((f) => f.variants.length === 0)).toBe(true);
    expect(varied.some((f) => f.variants.length > 0)).toBe(true);
    varied.forEach((f, i) => {
      expect(sameBytes(f.image, again[i].image) && sameBytes(f.labels, again[i].labels), `rerun ${f.id}`).toBe(true);
      expect(sameBytes(f.image, typical[i].image), `${f.id} (${f.variants.join(', ') || 'typical'})`).toBe(f.variants.length === 0);
    });
    // Every proportion 0 is the same as no heterogeneity at all.
    const zero = generateSyntheticEcho({ ...base, heterogeneity: Object.fromEntries(HETEROGENEITY_KINDS.map((k) => [k, 0])) });
    zero.forEach((f, i) => expect(sameBytes(f.image, typical[i].image) && sameBytes(f.labels, typical[i].labels)).toBe(true));
  });

  it('keeps masks exact in every kind: the mask is the cavity contour inside the fan, whatever is drawn', () => {
    for (const kind of HETEROGENEITY_KINDS) {
      const frames = generateSyntheticEcho({ videos: 3, framesPerVideo: 2, size: 48, seed: 21, heterogeneity: only(kind) });
      for (const f of frames) {
        expect(f.variants).toEqual([kind]);
        const { sector, cavity } = f.geometry;
        let wrong = 0;
        for (let y = 0; y < f.height; y++) {
          for (let x = 0; x < f.width; x++) {
            const expected = insideSector(sector, x + 0.5, y + 0.5) && insideContour(cavity, x + 0.5, y + 0.5) ? 1 : 0;
            if (f.mask[y * f.width + x] !== expected || (f.labels[y * f.width + x] === 1) !== (expected === 1)) wrong++;
          }
        }
        expect(wrong, `${kind} ${f.id}`).toBe(0);
        // The whole cavity is in the fan: pixel area matches the contour's area.
        let area = 0;
        for (let k = 0; k < 2048; k++) area += 0.5 * contourRadius(cavity, (2 * Math.PI * k) / 2048) ** 2 * ((2 * Math.PI) / 2048);
        const pixels = f.mask.reduce((a, b) => a + b, 0);
        expect(Math.abs(pixels - area) / area, `${kind} ${f.id}`).toBeLessThan(0.08);
      }
    }
  });

  /** The same videos typical and with one kind, frame 0 of each. */
  const pair = (kind: HeterogeneityKind, size = 64) => {
    const options: SyntheticOptions = { videos: 4, framesPerVideo: 1, size, seed: 2 };
    return { typical: generateSyntheticEcho(options), varied: generateSyntheticEcho({ ...options, heterogeneity: only(kind) }) };
  };
  const meanOver = (image: Float32Array, pixels: number[]) => pixels.reduce((a, i) => a + image[i], 0) / pixels.length;
  const sectorPixels = (f: SyntheticFrame) => Array.from(f.image.keys()).filter((i) => insideSector(f.geometry.sector, (i % f.width) + 0.5, Math.floor(i / f.width) + 0.5));

  it('depth: images at 105–120 or 215–250 mm instead of 140–180 mm', () => {
    const { typical, varied } = pair('depth');
    for (const [f, t] of varied.map((f, i) => [f, typical[i]] as const)) {
      const depthMm = f.geometry.mmPerPixel * f.geometry.sector.radius;
      expect(depthMm < 120.001 ? depthMm >= 105 : depthMm >= 215 && depthMm <= 250, `${f.id}: ${depthMm} mm`).toBe(true);
      const typicalDepth = t.geometry.mmPerPixel * t.geometry.sector.radius;
      expect(typicalDepth).toBeGreaterThanOrEqual(140);
      expect(typicalDepth).toBeLessThanOrEqual(180);
      // The heart's size in pixels follows the depth.
      expect(Math.sign(f.geometry.cavity.ry - t.geometry.cavity.ry)).toBe(depthMm < typicalDepth ? 1 : -1);
    }
  });

  it('gain: a much darker or brighter video with the same labels', () => {
    const { typical, varied } = pair('gain');
    for (const [f, t] of varied.map((f, i) => [f, typical[i]] as const)) {
      expect(sameBytes(f.labels, t.labels)).toBe(true);
      const ratio = meanOver(f.image, sectorPixels(f)) / meanOver(t.image, sectorPixels(t));
      expect(ratio < 0.75 || ratio > 1.2, `${f.id}: brightness ×${ratio.toFixed(2)}`).toBe(true);
    }
  });

  it('foreshortened: a shorter, tilted LV', () => {
    const { typical, varied } = pair('foreshortened');
    for (const [f, t] of varied.map((f, i) => [f, typical[i]] as const)) {
      const ratio = f.geometry.cavity.ry / t.geometry.cavity.ry;
      expect(ratio, f.id).toBeGreaterThanOrEqual(0.6 - 1e-9);
      expect(ratio, f.id).toBeLessThanOrEqual(0.75 + 1e-9);
      expect(Math.abs(f.geometry.cavity.rotation) * 180 / Math.PI, f.id).toBeGreaterThanOrEqual(14);
    }
  });

  it('dropout: a shadow over the LV wall darkens its wedge and nothing else; the labels stay', () => {
    const { typical, varied } = pair('dropout');
    for (const [f, t] of varied.map((f, i) => [f, typical[i]] as const)) {
      expect(sameBytes(f.labels, t.labels)).toBe(true);
      const shadows = f.geometry.shadows!;
      expect(shadows.length).toBeGreaterThanOrEqual(1);
      const { apexX, apexY, radius } = f.geometry.sector;
      const beam = (i: number) => Math.atan2((i % f.width) + 0.5 - apexX, Math.floor(i / f.width) + 0.5 - apexY);
      const depth = (i: number) => Math.hypot((i % f.width) + 0.5 - apexX, Math.floor(i / f.width) + 0.5 - apexY) / radius;
      const first = shadows[0];
      const core = sectorPixels(f).filter((i) => Math.abs(beam(i) - first.angle) < first.halfWidth && depth(i) > first.startDepth + 0.06);
      expect(core.length, f.id).toBeGreaterThan(10);
      // The wedge over the LV's side wall: some of its pixels are wall.
      expect(core.some((i) => f.labels[i] === 2), f.id).toBe(true);
      expect(meanOver(f.image, core) / meanOver(t.image, core), f.id).toBeLessThan(0.4);
      // Away from every wedge (beyond its soft 2° edge) the image is the typical one, byte for byte.
      const clear = sectorPixels(f).filter((i) => shadows.every((s) => Math.abs(beam(i) - s.angle) > s.halfWidth + (2.01 * Math.PI) / 180));
      expect(clear.length).toBeGreaterThan(100);
      expect(clear.every((i) => f.image[i] === t.image[i]), f.id).toBe(true);
    }
  });

  it('confusion: a dark, walled second chamber beside the LV that is background in the labels', () => {
    const { typical, varied } = pair('confusion');
    for (const [f, t] of varied.map((f, i) => [f, typical[i]] as const)) {
      // Not one label changes: the second chamber is background.
      expect(sameBytes(f.labels, t.labels)).toBe(true);
      const decoy = f.geometry.decoy!;
      const inside = sectorPixels(f).filter((i) => f.labels[i] === 0 && insideContour(decoy.cavity, (i % f.width) + 0.5, Math.floor(i / f.width) + 0.5));
      expect(inside.length, f.id).toBeGreaterThan(15);
      // As dark as a cavity where the typical video has tissue.
      expect(meanOver(f.image, inside) / meanOver(t.image, inside), f.id).toBeLessThan(0.4);
      // Beside the LV, not on it.
      expect(inside.some((i) => insideContour(f.geometry.cavity, (i % f.width) + 0.5, Math.floor(i / f.width) + 0.5))).toBe(false);
    }
  });
});
