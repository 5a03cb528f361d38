/**
 * Adam as TensorFlow's own fused kernel on the native backends (tfjs-node, tfjs-node-gpu): one `ResourceApplyAdam`
 * per variable, which reads the gradient and the two moments and writes the moments and the weights in one pass,
 * on TensorFlow's threads — where tfjs' AdamOptimizer runs 14 element-wise kernels per variable, each a full pass
 * over memory (Unet-resnet34: ≈ 2,000 kernels and ≈ 370 ms per update on 2 cores; PyTorch's Adam ≈ 75 ms).
 *
 * The moments live in TensorFlow resource variables (created with `VarHandleOp` through tfjs-node's binding, which
 * carries resource handles as string tensors). Each update assigns the tfjs variable's current tensor to a weight
 * resource (no copy: it shares the buffer), applies the kernel (which copies a shared buffer before writing, so
 * the old tensor keeps its values) and hands the result back to the tfjs variable. So anything else that assigns
 * the variable (a checkpoint restore, a test) is seen by the next update.
 *
 * Same numbers as tfjs' Adam up to float rounding: TensorFlow's kernel folds the bias corrections into the step
 * size, lr·√(1 − β2^t)/(1 − β1^t), and adds ε to √v rather than √v̂, so ε is passed as ε·√(1 − β2^t). It is a
 * drop-in AdamOptimizer: class name 'Adam', the same config, `getWeights` / `setWeights` in tfjs' layout
 * (iterations, then `<variable>/m` for every variable, then `<variable>/v`), so checkpoints move freely between it
 * and tfjs' Adam.
 */
import * as tf from '@tensorflow/tfjs';
import { asNativeBackend, floatTypeAttr, nativeKernelsActive, type NativeAttr, type NativeBackend } from '../nativeKernels';

type NamedTensor = { name: string; tensor: tf.Tensor };

interface Slot {
  name: string;
  shape: number[];
  weight: tf.Tensor;
  m: tf.Tensor;
  v: tf.Tensor;
}

let handles = 0;

export class NativeAdamOptimizer extends tf.AdamOptimizer {
  private slots: Slot[] = [];

  constructor(learningRate: number, beta1 = 0.9, beta2 = 0.999, epsilon?: number) {
    super(learningRate, beta1, beta2, epsilon);
    if (!nativeKernelsActive()) throw new Error(`NativeAdamOptimizer needs the tfjs-node backend; the active backend is '${tf.getBackend()}'.`);
  }

  private get native(): NativeBackend {
    return asNativeBackend();
  }

  private floatAttr(): NativeAttr {
    return floatTypeAttr(this.native, 'dtype');
  }

  private resource(shape: number[]): tf.Tensor {
    const { binding } = this.native;
    handles += 1;
    // Kept: slots are created inside the update's tidy and must outlive it.
    return tf.keep(this.native.executeSingleOutput('VarHandleOp', [
      { name: 'container', type: binding.TF_ATTR_STRING, value: '' },
      // Unique per handle: resources with the same shared name are the same variable.
      { name: 'shared_name', type: binding.TF_ATTR_STRING, value: `echo_adam_${process.pid}_${handles}` },
      this.floatAttr(),
      { name: 'shape', type: binding.TF_ATTR_SHAPE, value: shape },
    ], []));
  }

  private assign(resource: tf.Tensor, value: tf.Tensor): void {
    this.native.executeMultipleOutputs('AssignVariableOp', [this.floatAttr()], [resource, value], 0);
  }

  private read(resource: tf.Tensor): tf.Tensor {
    return this.native.executeSingleOutput('ReadVariableOp', [this.floatAttr()], [resource]);
  }

  private newSlot(name: string, shape: number[], m?: tf.Tensor, v?: tf.Tensor): Slot {
    const slot: Slot = { name, shape, weight: this.resource(shape), m: this.resource(shape), v: this.resource(shape) };
    tf.tidy(() => {
      this.assign(slot.m, m ?? tf.zeros(shape));
      this.assign(slot.v, v ?? tf.zeros(shape));
    });
    return slot;
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const entries: [string, tf.Tensor | undefined][] = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor])
      : Object.entries(variableGradients);
    const t = this.iterations + 1;
    const { binding } = this.native;
    const attrs: NativeAttr[] = [
      floatTypeAttr(this.native, 'T'),
      { name: 'use_locking', type: binding.TF_ATTR_BOOL, value: false },
      { name: 'use_nesterov', type: binding.TF_ATTR_BOOL, value: false },
    ];
    tf.tidy(() => {
      // β^t in double precision from the step number, as ml/train/adam.ts; ε on √v instead of √v̂ (module comment).
      const scalars = [
        this.beta1 ** t, this.beta2 ** t, this.learningRate, this.beta1, this.beta2, this.epsilon * Math.sqrt(1 - this.beta2 ** t),
      ].map((x) => tf.scalar(x, 'float32'));
      entries.forEach(([name, gradient], i) => {
        const variable = tf.engine().registeredVariables[name];
        if (!variable) throw new Error(`Adam: no variable named '${name}'.`);
        const slot = (this.slots[i] ??= this.newSlot(name, variable.shape));
        if (slot.shape.join() !== variable.shape.join()) {
          throw new Error(`Adam: the state for variable ${i} ('${slot.name}') has shape [${slot.shape}] but '${name}' has [${variable.shape}].`);
        }
        if (!gradient) return;
        this.assign(slot.weight, variable);
        this.native.executeMultipleOutputs('ResourceApplyAdam', attrs, [slot.weight, slot.m, slot.v, ...scalars, gradient], 0);
        variable.assign(this.read(slot.weight));
      });
    });
    this.incrementIterations();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const slots = this.slots;
    return [
      await this.saveIterations(),
      ...slots.map((s) => ({ name: `${s.name}/m`, tensor: this.read(s.m) })),
      ...slots.map((s) => ({ name: `${s.name}/v`, tensor: this.read(s.v) })),
    ];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const values = await this.extractIterations(weightValues);
    if (values.length % 2 !== 0) throw new Error(`Adam state must hold first and second moments in pairs; got ${values.length} tensors.`);
    const count = values.length / 2;
    const slots = values.slice(0, count).map((first, i) => {
      const second = values[count + i];
      if (first.tensor.size !== second.tensor.size) {
        throw new Error(`Adam state '${first.name}' has ${first.tensor.size} values but '${second.name}' has ${second.tensor.size}.`);
      }
      return this.newSlot(first.name.replace(/\/m$/, ''), first.tensor.shape, first.tensor, second.tensor);
    });
    this.disposeSlots();
    this.slots = slots;
  }

  private disposeSlots(): void {
    for (const slot of this.slots) {
      for (const resource of [slot.weight, slot.m, slot.v]) {
        this.native.executeMultipleOutputs('DestroyResourceOp', [
          { name: 'ignore_lookup_error', type: this.native.binding.TF_ATTR_BOOL, value: true },
        ], [resource], 0);
        resource.dispose();
      }
    }
    this.slots = [];
  }

  override dispose(): void {
    this.disposeSlots();
    super.dispose();
  }
}
