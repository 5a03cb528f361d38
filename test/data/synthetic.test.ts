import { describe, expect, it } from 'vitest';
import { contourRadius, generateSyntheticEcho, type SyntheticFrame } from '../../data/synthetic';

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
