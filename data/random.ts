/**
 * Seeded randomness for the data layer (synthetic frames, split selection): sfc32 seeded through splitmix32,
 * so a seed and a stream name always give the same numbers on every machine.
 */
import { SeededRng } from '../ml/train/rng';

/** FNV-1a of a string: turns stream names ("video-3") into seed material. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The training library's sfc32 generator, seeded per named stream, with the data layer's extras. */
export class Random extends SeededRng {
  private spareNormal: number | undefined;

  /** `stream` separates independent sequences drawn from one user seed (e.g. one per video). */
  constructor(seed: number, stream = '') {
    if (!Number.isFinite(seed)) throw new Error(`Seed must be a finite number, got ${seed}.`);
    super((Math.trunc(seed) ^ hashString(stream)) >>> 0);
  }

  /** Standard normal (Box–Muller, both outputs used). */
  override normal(): number {
    if (this.spareNormal !== undefined) {
      const value = this.spareNormal;
      this.spareNormal = undefined;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - this.next()));
    const angle = 2 * Math.PI * this.next();
    this.spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** Fisher–Yates shuffle of a copy. */
  shuffled<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
}
