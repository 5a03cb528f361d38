/**
 * Label Studio polygons to masks. A polygon's points are percentages of the original image's width and
 * height; a pixel is inside when its centre is, by the even-odd rule. Edges are half-open (a centre exactly
 * on a left or top edge is inside, on a right or bottom edge outside), so polygons that share an edge never
 * both claim a pixel and an axis-aligned rectangle covers exactly its area in pixels.
 */

export type PercentPoint = readonly [number, number];

export class PolygonError extends Error {}

/** Rasterises one polygon to a 0/1 mask (H×W, row-major). */
export function polygonToMask(points: readonly PercentPoint[], width: number, height: number): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new PolygonError(`mask size ${width}×${height} is not a positive integer size`);
  }
  if (points.length < 3) throw new PolygonError(`a polygon needs at least 3 points, got ${points.length}`);
  const xs = new Float64Array(points.length);
  const ys = new Float64Array(points.length);
  points.forEach((point, i) => {
    const [x, y] = point;
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw new PolygonError(`polygon point ${i} (${x}, ${y}) is not a number pair`);
    xs[i] = (x / 100) * width;
    ys[i] = (y / 100) * height;
  });
  const mask = new Uint8Array(width * height);
  const crossings: number[] = [];
  for (let row = 0; row < height; row++) {
    const cy = row + 0.5;
    crossings.length = 0;
    for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
      // Half-open in y: an edge counts when it starts at or below the scanline and ends above it (or back).
      if ((ys[i] <= cy) !== (ys[j] <= cy)) {
        crossings.push(xs[j] + ((cy - ys[j]) * (xs[i] - xs[j])) / (ys[i] - ys[j]));
      }
    }
    crossings.sort((a, b) => a - b);
    for (let k = 0; k + 1 < crossings.length; k += 2) {
      // Columns whose centre c + 0.5 lies in [left, right).
      const first = Math.max(0, Math.ceil(crossings[k] - 0.5));
      const end = Math.min(width, Math.ceil(crossings[k + 1] - 0.5));
      if (end > first) mask.fill(1, row * width + first, row * width + end);
    }
  }
  return mask;
}
