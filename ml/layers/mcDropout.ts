/**
 * Dropout that can stay stochastic at inference (Monte Carlo mode) while batch-norm keeps using its moving
 * statistics: Keras' `training=true` would switch both, so MC mode is a flag on this layer alone.
 *
 * Masks come from seeded draws: `setMCDropoutSeed(s)` restarts a counter per layer, and the n-th call of a layer
 * draws from a seed made of (s, layer name, n). Two runs that call each dropout layer the same number of times
 * with the same shapes therefore draw identical masks, whatever order the layers run in — fast MC (a split
 * model) and naive MC (the full model) agree mask for mask.
 */
import * as tf from '@tensorflow/tfjs';

let seedBase: number | undefined;
const callsPerLayer = new Map<string, number>();

/** Fixes the sequence of dropout masks (undefined → unseeded, fresh randomness). */
export function setMCDropoutSeed(seed: number | undefined): void {
  seedBase = seed;
  callsPerLayer.clear();
}

/** A seed string unique per (seed, layer, call index); undefined when unseeded. */
function nextSeed(layerName: string): string | undefined {
  if (seedBase === undefined) return undefined;
  const calls = (callsPerLayer.get(layerName) ?? 0) + 1;
  callsPerLayer.set(layerName, calls);
  return `${seedBase}/${layerName}/${calls}`;
}

/** Four non-zero 32-bit words of generator state: FNV-1a of the seed string, spread by splitmix32. */
function generatorState(seed: string | undefined): Int32Array {
  let h = 0x811c9dc5;
  if (seed === undefined) {
    h = (Math.random() * 2 ** 32) >>> 0;
  } else {
    for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193);
  }
  const state = new Int32Array(4);
  for (let i = 0; i < 4; i++) {
    h = (h + 0x9e3779b9) | 0;
    let z = h;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    state[i] = z ^ (z >>> 16);
  }
  if (state.every((w) => w === 0)) state[0] = 1;
  return state;
}

/** keep quantised to 1/65536: the threshold a 16-bit uniform must stay under. */
function keepThreshold(keep: number): number {
  return Math.min(65536, Math.max(0, Math.round(keep * 65536)));
}

/** The factor kept values are scaled by: 1 / the quantised keep, so E[mask] = 1 exactly. */
export function dropoutScale(keep: number): number {
  const threshold = keepThreshold(keep);
  return threshold === 0 ? 0 : 65536 / threshold;
}

/**
 * A dropout mask: each value is 1/keep with probability keep, else 0 (keep quantised to 1/65536, and the scale
 * uses the quantised value, so E[mask] = 1 exactly): `fillKeepMask` times `dropoutScale`.
 */
export function dropoutMask(size: number, keep: number, seed: string | undefined): Float32Array {
  const kept = new Uint8Array(size);
  fillKeepMask(kept, keep, seed);
  const scale = dropoutScale(keep);
  return Float32Array.from(kept, (k) => k * scale);
}

/** 4 bits → 4 bytes of 0/1 (little-endian word), to write a mask four values per store. */
const SPREAD_NIBBLE = Uint32Array.from({ length: 16 }, (_, n) => (n & 1) | ((n >> 1) & 1) << 8 | ((n >> 2) & 1) << 16 | ((n >> 3) & 1) << 24);
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * Writes a keep mask into `target`: 1 with probability keep (quantised to 1/65536), else 0 — the values the
 * layer multiplies by, as bytes (a quarter of a float mask's memory traffic; TensorFlow widens them).
 *
 * Bit-sliced: 32 values at a time, each lane of a 32-bit xoshiro128** word being one bit of its value's 16-bit
 * uniform u, most significant bit first. A lane is decided at the first bit where u and the threshold differ
 * (u < threshold: keep), so a word of 32 values needs only as many draws as it takes to decide all lanes — about
 * six — and none after the threshold's lowest set bit (keep 0.5: one draw per 32 values). The same distribution
 * as one 16-bit uniform per value, at a fraction of the draws.
 */
export function fillKeepMask(target: Uint8Array, keep: number, seed: string | undefined): void {
  const threshold = keepThreshold(keep);
  if (threshold === 0 || threshold === 65536) {
    target.fill(threshold === 0 ? 0 : 1);
    return;
  }
  const lanes = keptLanes(Math.ceil(target.length / 32), threshold, generatorState(seed));
  spreadLanes(lanes, target);
}

/** `words` words of 32 lanes each, a lane's bit set when its 16-bit uniform is below `threshold` (0 < t < 65536). */
function keptLanes(words: number, threshold: number, state: Int32Array): Int32Array {
  const lanes = new Int32Array(words);
  let [a, b, c, d] = state;
  const lowestBit = 31 - Math.clz32(threshold & -threshold);
  for (let w = 0; w < words; w++) {
    let below = 0; // lanes decided u < threshold
    let tied = -1; // lanes whose bits so far equal the threshold's
    for (let bit = 15; bit >= lowestBit && tied !== 0; bit--) {
      const m = Math.imul(b, 5);
      const r = Math.imul((m << 7) | (m >>> 25), 9);
      const t = b << 9;
      c ^= a; d ^= b; b ^= c; a ^= d; c ^= t;
      d = (d << 11) | (d >>> 21);
      if ((threshold >> bit) & 1) {
        below |= tied & ~r;
        tied &= r;
      } else {
        tied &= ~r;
      }
    }
    lanes[w] = below;
  }
  return lanes;
}

/** Writes lane i of word w as byte 32w + i (0/1) of `target`: four bytes per store where the target is aligned. */
function spreadLanes(lanes: Int32Array, target: Uint8Array): void {
  const size = target.length;
  const aligned = LITTLE_ENDIAN && target.byteOffset % 4 === 0;
  const fullWords = aligned ? size >>> 5 : 0;
  const quads = aligned ? new Uint32Array(target.buffer, target.byteOffset, fullWords * 8) : new Uint32Array(0);
  for (let w = 0; w < fullWords; w++) {
    // Unrolled: a loop over the eight nibbles takes twice as long (V8 does not unroll it).
    const below = lanes[w];
    const q = w << 3;
    quads[q] = SPREAD_NIBBLE[below & 15];
    quads[q + 1] = SPREAD_NIBBLE[(below >>> 4) & 15];
    quads[q + 2] = SPREAD_NIBBLE[(below >>> 8) & 15];
    quads[q + 3] = SPREAD_NIBBLE[(below >>> 12) & 15];
    quads[q + 4] = SPREAD_NIBBLE[(below >>> 16) & 15];
    quads[q + 5] = SPREAD_NIBBLE[(below >>> 20) & 15];
    quads[q + 6] = SPREAD_NIBBLE[(below >>> 24) & 15];
    quads[q + 7] = SPREAD_NIBBLE[below >>> 28];
  }
  for (let i = fullWords * 32; i < size; i++) target[i] = (lanes[i >>> 5] >>> (i & 31)) & 1;
}

/**
 * Passes stacked along the batch axis of one MC-mode call (see `withMCPasses`): the input holds `passes` copies of
 * a batch, pass-major, and each copy gets its own mask — the one the n-th separate call would have drawn. With
 * `rowsPerPass` known, an input of just one pass's rows is shared by all passes and broadcast, not tiled.
 */
let passesPerCall = 1;
let rowsPerPass: number | undefined;

export interface MCPassesOptions {
  /**
   * Rows (batch size) of one pass. A dropout layer whose input has this many rows (rather than passes × as many)
   * takes it as the same input for every pass: its output has the stacked rows, each pass with its own mask, as if
   * the input had been tiled — without the tiled copy. Lets a caller skip tiling inputs only dropout reads.
   */
  rowsPerPass?: number;
}

/**
 * Runs `fn` (synchronous) with MC-mode dropout layers treating their input as `passes` stacked copies of a batch
 * ([passes · batch, …], pass-major): a layer draws `passes` masks in a row, exactly the masks of `passes`
 * consecutive single-pass calls, so one batched call of a model equals that many separate passes, seeded or not.
 */
export function withMCPasses<T>(passes: number, fn: () => T, options: MCPassesOptions = {}): T {
  if (!(Number.isInteger(passes) && passes >= 1)) throw new Error(`passes must be a positive integer, got ${passes}.`);
  const rows = options.rowsPerPass;
  if (rows !== undefined && !(Number.isInteger(rows) && rows >= 1)) throw new Error(`rowsPerPass must be a positive integer, got ${rows}.`);
  const outer = [passesPerCall, rowsPerPass] as const;
  passesPerCall = passes;
  rowsPerPass = rows;
  try {
    return fn();
  } finally {
    [passesPerCall, rowsPerPass] = outer;
  }
}

/**
 * While a `withReusedMaskBuffer` scope is open, masks are drawn into one reusable buffer: a fresh array of stacked
 * passes' size costs more in page faults than drawing the mask. tfjs-node hands the array's memory to TensorFlow
 * without copying it, so the mask tensor made from it must be done with before the buffer is drawn into again: the
 * widening cast reads it at once, and the tensor is disposed (TensorFlow lets go of the memory) before the next call.
 */
let scratch: Uint8Array | undefined;
let reuseScopes = 0;

/** Runs `fn` with dropout masks drawn into one reused buffer, freed when the last open scope ends. */
export async function withReusedMaskBuffer<T>(fn: () => Promise<T>): Promise<T> {
  reuseScopes += 1;
  scratch ??= new Uint8Array(0);
  try {
    return await fn();
  } finally {
    reuseScopes -= 1;
    if (reuseScopes === 0) scratch = undefined;
  }
}

function maskBuffer(size: number): Uint8Array {
  if (!scratch) return new Uint8Array(size);
  if (scratch.length < size) scratch = new Uint8Array(size);
  return scratch.subarray(0, size);
}

/** `passes` copies of `x` stacked along the batch axis, pass-major: the input of stacked MC passes. */
export function stackCopies(x: tf.Tensor, passes: number): tf.Tensor {
  return passes === 1 ? x : tf.tile(x, [passes, ...x.shape.slice(1).map(() => 1)]);
}

export interface MCDropoutArgs {
  rate: number;
  name?: string;
  mcActive?: boolean;
}

export class MCDropout extends tf.layers.Layer {
  static className = 'MCDropout';
  readonly rate: number;
  mcActive: boolean;

  constructor(args: MCDropoutArgs) {
    super({ name: args.name });
    if (!(args.rate >= 0 && args.rate < 1)) throw new Error(`Dropout rate must be in [0, 1), got ${args.rate}.`);
    this.rate = args.rate;
    this.mcActive = args.mcActive ?? false;
    this.supportsMasking = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      // Training draws one mask per call; MC mode one per stacked pass (withMCPasses).
      const passes = kwargs.training === true ? 1 : passesPerCall;
      const rows = x.shape[0];
      const shared = passes > 1 && rows === rowsPerPass;
      const stochastic = this.mcActive || kwargs.training === true;
      // Without dropout a shared input still becomes the stacked passes' rows, as the layers after it expect.
      if (!stochastic || this.rate === 0) return shared ? stackCopies(x, passes) : tf.clone(x);
      if (!shared && rows % passes !== 0) {
        throw new Error(`${this.name}: a batch of ${rows} cannot hold ${passes} stacked MC passes.`);
      }
      const passRows = shared ? rows : rows / passes;
      const rest = x.shape.slice(1);
      const perPass = shared ? x.size : x.size / passes;
      const kept = maskBuffer(perPass * passes);
      for (let p = 0; p < passes; p++) {
        fillKeepMask(kept.subarray(p * perPass, (p + 1) * perPass), 1 - this.rate, nextSeed(this.name));
      }
      // (x · scale) · kept, as [passes, pass rows, …]: a shared x (one pass's rows) broadcasts over the passes, so
      // shared and stacked inputs give the same numbers.
      const scaled = x.mul(dropoutScale(1 - this.rate)).reshape([shared ? 1 : passes, passRows, ...rest]);
      return scaled.mul(tf.tensor(kept, [passes, passRows, ...rest], 'bool').toFloat()).reshape([passes * passRows, ...rest]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}
tf.serialization.registerClass(MCDropout);

/** Switches every MCDropout layer of a model (recursively through nested models) into or out of MC mode. */
export function setMCMode(model: tf.LayersModel, active: boolean): number {
  let count = 0;
  const visit = (layers: tf.layers.Layer[]) => {
    for (const layer of layers) {
      if (layer instanceof MCDropout) {
        layer.mcActive = active;
        count += 1;
      } else if (layer instanceof tf.LayersModel) {
        visit(layer.layers);
      }
    }
  };
  visit(model.layers);
  return count;
}
