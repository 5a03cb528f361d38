/**
 * Dropout that can stay stochastic at inference (Monte Carlo mode) while batch-norm keeps using its moving
 * statistics: Keras' `training=true` would switch both, so MC mode is a flag on this layer alone.
 *
 * Masks come from seeded draws: `setMCDropoutSeed(s)` restarts a global counter, so two runs that call the
 * dropout layers in the same order with the same shapes draw identical masks (used to prove fast MC = naive MC).
 */
import * as tf from '@tensorflow/tfjs';

let seedBase: number | undefined;
let drawCounter = 0;

/** Fixes the sequence of dropout masks (undefined → unseeded, fresh randomness). */
export function setMCDropoutSeed(seed: number | undefined): void {
  seedBase = seed;
  drawCounter = 0;
}

function nextSeed(): number | undefined {
  if (seedBase === undefined) return undefined;
  drawCounter += 1;
  return seedBase * 1_000_003 + drawCounter;
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
      const mask = tf.randomUniform(x.shape, 0, 1, 'float32', nextSeed()).less(keep).cast('float32');
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
