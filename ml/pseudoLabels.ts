/**
 * Semi-supervised training on the pool with pseudo-labels: pool frames the uncertainty model is sure about get the
 * segmentation model's mask as a training label for the next phase. How sure is "sure" comes from the validation
 * split, never from the test split: the threshold is the largest uncertainty at which validation frames scored at
 * or below it still reach `targetIoU` on average against their real masks. Pseudo-labels are training data only:
 * never evaluated on, never shown to doctors as theirs. Pure.
 */

export interface ScoredFrame {
  id: string;
  /** Uncertainty (higher: less sure). */
  score: number;
}

/** The largest validation uncertainty u with mean IoU ≥ target over the frames scored ≤ u; undefined when none qualifies. */
export function pseudoLabelThreshold(validation: readonly (ScoredFrame & { iou: number })[], targetIoU: number): number | undefined {
  if (!(targetIoU > 0 && targetIoU <= 1)) throw new Error(`targetIoU must be in (0, 1], got ${targetIoU}.`);
  const sorted = [...validation].sort((a, b) => a.score - b.score);
  let sum = 0;
  let threshold: number | undefined;
  sorted.forEach((frame, i) => {
    sum += frame.iou;
    // Ties: a threshold between equal scores would admit frames the mean did not count.
    const lastOfTie = i === sorted.length - 1 || sorted[i + 1].score > frame.score;
    // A mean equal to the target up to float rounding reaches it ((0.95 + 0.85) / 2 is 0.8999… in floats).
    if (lastOfTie && sum / (i + 1) >= targetIoU - 1e-12) threshold = frame.score;
  });
  return threshold;
}

/** Pool frames scored at or below the threshold, surest first, at most `maxCount`, none of `exclude`. */
export function choosePseudoLabelled(pool: readonly ScoredFrame[], threshold: number, maxCount: number, exclude: Iterable<string> = []): string[] {
  const excluded = new Set(exclude);
  return pool.filter((f) => f.score <= threshold && !excluded.has(f.id))
    .sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, Math.max(0, maxCount))
    .map((f) => f.id);
}
