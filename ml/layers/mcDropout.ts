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

/** A string seed (seedrandom accepts any string), unique per (seed, layer, call index). */
function nextSeed(layerName: string): string | undefined {
  if (seedBase === undefined) return undefined;
  const calls = (callsPerLayer.get(layerName) ?? 0) + 1;
  callsPerLayer.set(layerName, calls);
  return `${seedBase}/${layerName}/${calls}`;
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
      const keep = 1 - this.rate;
      const mask = tf.randomUniform(x.shape, 0, 1, 'float32', nextSeed(this.name)).less(keep).cast('float32');
      return x.mul(mask).div(keep);
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
