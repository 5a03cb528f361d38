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

/**
 * A dropout mask: each value is 1/keep with probability keep, else 0 (keep quantised to 1/65536, and the scale
 * uses the quantised value, so E[mask] = 1 exactly). Drawn with xoshiro128**, two 16-bit uniforms per step,
 * written as float bit patterns without branches: tf.randomUniform fills its buffer with a generator several
 * times slower and needs extra ops to threshold and scale, and masks are most of the cost of fast MC.
 */
export function dropoutMask(size: number, keep: number, seed: string | undefined): Float32Array {
  const mask = new Float32Array(size);
  fillDropoutMask(mask, keep, seed);
  return mask;
}

/** Writes `dropoutMask(target.length, keep, seed)` into `target` (a view into a larger mask, say). */
export function fillDropoutMask(target: Float32Array, keep: number, seed: string | undefined): void {
  const [s0, s1, s2, s3] = generatorState(seed);
  let a = s0, b = s1, c = s2, d = s3;
  const size = target.length;
  const threshold = Math.round(keep * 65536);
  if (threshold === 0) {
    target.fill(0);
    return;
  }
  const bits = new Uint32Array(target.buffer, target.byteOffset, size);
  const scaleBits = new Uint32Array(Float32Array.of(65536 / threshold).buffer)[0] | 0;
  for (let i = 0; i < size; i += 2) {
    const m = Math.imul(b, 5);
    const r = Math.imul((m << 7) | (m >>> 25), 9);
    const t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t;
    d = (d << 11) | (d >>> 21);
    // (u − threshold) >> 31 is all ones exactly when u < threshold: keep (scale), else 0.
    bits[i] = (((r & 0xffff) - threshold) >> 31) & scaleBits;
    if (i + 1 < size) bits[i + 1] = (((r >>> 16) - threshold) >> 31) & scaleBits;
  }
}

/**
 * Passes stacked along the batch axis of one MC-mode call (see `withMCPasses`): the input holds `passes` copies of
 * a batch, pass-major, and each copy gets its own mask — the one the n-th separate call would have drawn.
 */
let passesPerCall = 1;

/**
 * Runs `fn` (synchronous) with MC-mode dropout layers treating their input as `passes` stacked copies of a batch
 * ([passes · batch, …], pass-major): a layer draws `passes` masks in a row, exactly the masks of `passes`
 * consecutive single-pass calls, so one batched call of a model equals that many separate passes, seeded or not.
 */
export function withMCPasses<T>(passes: number, fn: () => T): T {
  if (!(Number.isInteger(passes) && passes >= 1)) throw new Error(`passes must be a positive integer, got ${passes}.`);
  const outer = passesPerCall;
  passesPerCall = passes;
  try {
    return fn();
  } finally {
    passesPerCall = outer;
  }
}

/**
 * While a `withReusedMaskBuffer` scope is open, masks are drawn into one reusable buffer: a fresh array of stacked
 * passes' size costs more in page faults than drawing the mask. The mask tensor made from it is consumed by the
 * multiply and disposed before the next call (tfjs-node copies the values into TensorFlow when the multiply runs).
 */
let scratch: Float32Array | undefined;
let reuseScopes = 0;

/** Runs `fn` with dropout masks drawn into one reused buffer, freed when the last open scope ends. */
export async function withReusedMaskBuffer<T>(fn: () => Promise<T>): Promise<T> {
  reuseScopes += 1;
  scratch ??= new Float32Array(0);
  try {
    return await fn();
  } finally {
    reuseScopes -= 1;
    if (reuseScopes === 0) scratch = undefined;
  }
}

function maskBuffer(size: number): Float32Array {
  if (!scratch) return new Float32Array(size);
  if (scratch.length < size) scratch = new Float32Array(size);
  return scratch.subarray(0, size);
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
      const stochastic = this.mcActive || kwargs.training === true;
      if (!stochastic || this.rate === 0) return tf.clone(x);
      // Training draws one mask per call; MC mode one per stacked pass (withMCPasses).
      const passes = kwargs.training === true ? 1 : passesPerCall;
      if (x.shape[0] % passes !== 0) {
        throw new Error(`${this.name}: a batch of ${x.shape[0]} cannot hold ${passes} stacked MC passes.`);
      }
      const mask = maskBuffer(x.size);
      const perPass = x.size / passes;
      for (let p = 0; p < passes; p++) {
        fillDropoutMask(mask.subarray(p * perPass, (p + 1) * perPass), 1 - this.rate, nextSeed(this.name));
      }
      return x.mul(tf.tensor(mask, x.shape, 'float32'));
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
