import * as tf from '@tensorflow/tfjs';

/**
 * PyTorch's hardsigmoid (relu6(x + 3) / 6) and hardswish (x · hardsigmoid(x)); tfjs' own 'hardSigmoid' is Keras'
 * clip(0.2x + 0.5), a different function.
 */
export class HardActivation extends tf.layers.Layer {
  static className = 'EchoHardActivation';
  readonly kind: 'hardSwish' | 'hardSigmoid';

  constructor(args: { kind: 'hardSwish' | 'hardSigmoid'; name?: string }) {
    super({ name: args.name });
    this.kind = args.kind;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const gate = tf.div(tf.relu6(tf.add(x, 3)), 6);
      return this.kind === 'hardSwish' ? tf.mul(x, gate) : gate;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), kind: this.kind };
  }
}
