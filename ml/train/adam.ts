/**
 * Adam as one pass over each variable: the update tfjs' AdamOptimizer makes with 14 element-wise kernels per
 * variable (each reading and writing whole tensors, ≈ 2,800 kernel calls per step for a 200-variable model),
 * done in a single JavaScript loop that reads the gradient and the weights once and writes the weights once. On a
 * CPU backend the tensors live in host memory, so the loop costs ≈ the three copies; the moments stay in
 * Float32Arrays and never travel.
 *
 * It is a drop-in AdamOptimizer: class name 'Adam', the same config, and `getWeights` / `setWeights` in tfjs'
 * layout (iterations, then `<variable>/m` for every variable, then `<variable>/v`), so checkpoints move freely
 * between the two. Bias corrections are computed from the step number (1 − β^t in double precision), so a run
 * resumed from a checkpoint continues exactly as the uninterrupted run would.
 */
import * as tf from '@tensorflow/tfjs';

/** tfjs' name–tensor pair (not re-exported by the tfjs umbrella package). */
type NamedTensor = { name: string; tensor: tf.Tensor };

interface Moments {
  /** The variable's name, as tfjs' Adam names its slots (`<name>/m`, `<name>/v`). */
  name: string;
  shape: number[];
  m: Float32Array;
  v: Float32Array;
}

export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.999;

export class FusedAdamOptimizer extends tf.AdamOptimizer {
  private moments: Moments[] = [];

  constructor(learningRate: number, beta1 = ADAM_BETA1, beta2 = ADAM_BETA2, epsilon?: number) {
    super(learningRate, beta1, beta2, epsilon);
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const entries: [string, tf.Tensor | undefined][] = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor])
      : Object.entries(variableGradients);
    const t = this.iterations + 1;
    // w ← w − lr · m̂ / (√v̂ + ε), m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t), in tfjs' order of operations.
    const correction1 = 1 - this.beta1 ** t;
    const correction2 = 1 - this.beta2 ** t;
    const { beta1, beta2, epsilon } = this;
    const keep1 = 1 - beta1;
    const keep2 = 1 - beta2;
    // Hoisted out of the loop: lr · m / (1 − β1^t) and v / (1 − β2^t) as products.
    const stepSize = this.learningRate / correction1;
    const invCorrection2 = 1 / correction2;
    entries.forEach(([name, gradient], i) => {
      const variable = tf.engine().registeredVariables[name];
      if (!variable) throw new Error(`Adam: no variable named '${name}'.`);
      const size = variable.size;
      const slot = (this.moments[i] ??= { name, shape: variable.shape, m: new Float32Array(size), v: new Float32Array(size) });
      if (slot.m.length !== size) {
        throw new Error(`Adam: the state for variable ${i} ('${slot.name}') has ${slot.m.length} values but '${name}' has ${size}.`);
      }
      if (!gradient) return;
      const g = gradient.dataSync() as Float32Array;
      // A private copy of the weights (dataSync may hand out the array a tensor still holds): the new value.
      const w = (variable.dataSync() as Float32Array).slice();
      const { m, v } = slot;
      for (let k = 0; k < size; k++) {
        const gk = g[k];
        const mk = beta1 * m[k] + keep1 * gk;
        const vk = beta2 * v[k] + keep2 * gk * gk;
        m[k] = mk;
        v[k] = vk;
        w[k] -= (stepSize * mk) / (Math.sqrt(vk * invCorrection2) + epsilon);
      }
      tf.tidy(() => variable.assign(tf.tensor(w, variable.shape, 'float32')));
    });
    this.incrementIterations();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const slots = this.moments;
    return [
      await this.saveIterations(),
      ...slots.map((s) => ({ name: `${s.name}/m`, tensor: tf.tensor(s.m.slice(), s.shape) })),
      ...slots.map((s) => ({ name: `${s.name}/v`, tensor: tf.tensor(s.v.slice(), s.shape) })),
    ];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const values = await this.extractIterations(weightValues);
    if (values.length % 2 !== 0) throw new Error(`Adam state must hold first and second moments in pairs; got ${values.length} tensors.`);
    const count = values.length / 2;
    this.moments = values.slice(0, count).map((first, i) => {
      const second = values[count + i];
      if (first.tensor.size !== second.tensor.size) {
        throw new Error(`Adam state '${first.name}' has ${first.tensor.size} values but '${second.name}' has ${second.tensor.size}.`);
      }
      return {
        name: first.name.replace(/\/m$/, ''),
        shape: first.tensor.shape,
        m: Float32Array.from(first.tensor.dataSync()),
        v: Float32Array.from(second.tensor.dataSync()),
      };
    });
  }

  override dispose(): void {
    this.moments = [];
    super.dispose();
  }
}
