/** A small seeded PRNG (mulberry32) so a search is reproducible from its seed alone, across continueAsNew. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)];
}

/**
 * The i-th element of a seeded pseudo-random permutation of [0, n): a 4-round Feistel network over the smallest
 * power-of-four domain ≥ n, walking the cycle until the value falls inside [0, n). Sampling without replacement with no
 * state to carry: indices 0, 1, 2, … give n distinct values.
 */
export function permutedIndex(i: number, n: number, seed: number): number {
  if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(i) && i >= 0 && i < n)) throw new Error(`permutedIndex: need 0 ≤ i < n, got i=${i}, n=${n}`);
  let halfBits = 1;
  while (4 ** halfBits < n) halfBits += 1;
  const mask = (1 << halfBits) - 1;
  const round = (value: number, r: number) => {
    let h = Math.imul(value ^ Math.imul(seed + 0x9e3779b9 * (r + 1), 0x85ebca6b), 0xc2b2ae35) >>> 0;
    h ^= h >>> 15;
    h = Math.imul(h, 0x27d4eb2d) >>> 0;
    return (h ^ (h >>> 13)) & mask;
  };
  let x = i;
  do {
    let left = x >>> halfBits;
    let right = x & mask;
    for (let r = 0; r < 4; r++) {
      const next = left ^ round(right, r);
      left = right;
      right = next;
    }
    x = (left << halfBits) | right;
  } while (x >= n);
  return x;
}
