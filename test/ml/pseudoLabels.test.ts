/**
 * Pseudo-labels (ml/pseudoLabels.ts): the threshold comes from the validation split — the largest uncertainty whose
 * frames at or below it reach the target IoU on average — and the pool frames below it are taken surest first.
 * The strategy syntax names semi-supervised strategies with `+pseudo-label`.
 */
import { describe, expect, it } from 'vitest';
import { parseStrategy } from '../../contracts';
import { choosePseudoLabelled, pseudoLabelThreshold } from '../../ml/pseudoLabels';

describe('the pseudo-label threshold', () => {
  const validation = [
    { id: 'a', score: 0.1, iou: 0.95 },
    { id: 'b', score: 0.2, iou: 0.85 },
    { id: 'c', score: 0.3, iou: 0.7 },
    { id: 'd', score: 0.4, iou: 0.3 },
  ];

  it('is the largest uncertainty whose frames at or below it reach the target on average', () => {
    // Means at or below each score: 0.95, 0.90, 0.833…, 0.70.
    expect(pseudoLabelThreshold(validation, 0.9)).toBe(0.2);
    expect(pseudoLabelThreshold(validation, 0.8)).toBe(0.3);
    expect(pseudoLabelThreshold(validation, 0.7)).toBe(0.4);
    expect(pseudoLabelThreshold(validation, 0.96)).toBeUndefined();
    // Order of the input does not matter.
    expect(pseudoLabelThreshold([...validation].reverse(), 0.9)).toBe(0.2);
  });

  it('never splits frames of equal uncertainty: a tie is taken whole or not at all', () => {
    const tied = [{ id: 'a', score: 0.1, iou: 0.95 }, { id: 'b', score: 0.2, iou: 0.95 }, { id: 'c', score: 0.2, iou: 0.5 }];
    // a alone: 0.95; a, b, c: 0.80 — the tie at 0.2 cannot be cut after b.
    expect(pseudoLabelThreshold(tied, 0.9)).toBe(0.1);
    expect(pseudoLabelThreshold(tied, 0.8)).toBe(0.2);
  });

  it('refuses a target outside (0, 1] and gives none for an empty validation split', () => {
    expect(() => pseudoLabelThreshold(validation, 0)).toThrow(/targetIoU must be in \(0, 1\]/);
    expect(() => pseudoLabelThreshold(validation, 1.5)).toThrow(/targetIoU/);
    expect(pseudoLabelThreshold([], 0.5)).toBeUndefined();
  });
});

describe('the pool frames taken', () => {
  const pool = [{ id: 'p3', score: 0.05 }, { id: 'p1', score: 0.01 }, { id: 'p2', score: 0.3 }, { id: 'p4', score: 0.05 }, { id: 'p5', score: 0.2 }];

  it('are those at or below the threshold, surest first (ties by id), at most the count, none excluded', () => {
    expect(choosePseudoLabelled(pool, 0.2, 10)).toEqual(['p1', 'p3', 'p4', 'p5']);
    expect(choosePseudoLabelled(pool, 0.2, 2)).toEqual(['p1', 'p3']);
    expect(choosePseudoLabelled(pool, 0.2, 10, ['p1', 'p5'])).toEqual(['p3', 'p4']);
    expect(choosePseudoLabelled(pool, 0.001, 10)).toEqual([]);
    expect(choosePseudoLabelled(pool, 1, 0)).toEqual([]);
  });
});

describe('strategy names with semi-supervised training', () => {
  it('parses <function>[:<selection>][+pseudo-label|+mean-teacher] and refuses other modes', () => {
    expect(parseStrategy('mfe:clasp+pseudo-label')).toEqual({ name: 'mfe:clasp+pseudo-label', acquisition: 'mfe', selection: 'clasp', semiSupervised: 'pseudo-label' });
    expect(parseStrategy('random+pseudo-label')).toEqual({ name: 'random+pseudo-label', acquisition: 'random', selection: 'top-k', semiSupervised: 'pseudo-label' });
    expect(parseStrategy('mfe')).toEqual({ name: 'mfe', acquisition: 'mfe', selection: 'top-k' });
    expect(parseStrategy('mfe:badge+mean-teacher')).toEqual({ name: 'mfe:badge+mean-teacher', acquisition: 'mfe', selection: 'badge', semiSupervised: 'mean-teacher' });
    expect(parseStrategy('mfe+co-training')).toEqual({ error: "'+co-training' is not a semi-supervised mode (pseudo-label, mean-teacher)" });
    expect(parseStrategy('mfe+none')).toMatchObject({ error: expect.stringContaining('is not a semi-supervised mode') });
    expect(parseStrategy('mfe+pseudo-label+x')).toMatchObject({ error: expect.stringContaining("more than one '+'") });
  });
});
