import * as tf from '@tensorflow/tfjs';

/**
 * Softmax across `radix` branches (timm's RadixSoftmax; also SK's softmax over paths with cardinality 1).
 * Input channels are ordered (cardinality, radix, c); output channels (radix, cardinality, c).
 * With radix 1 it is a sigmoid.
 */
export class RadixSoftmax extends tf.layers.Layer {
  static className = 'RadixSoftmax';
  readonly radix: number;
  readonly cardinality: number;

  constructor(args: { name?: string; radix: number; cardinality: number }) {
    super({ name: args.name });
    this.radix = args.radix;
    this.cardinality = args.cardinality;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      if (this.radix === 1) return tf.sigmoid(x);
      const [n, h, w, c] = x.shape;
      // tfjs softmax works on the last axis only: move radix last, then reorder to (radix, cardinality, c).
      const split = x.reshape([n * h * w, this.cardinality, this.radix, c / (this.cardinality * this.radix)]);
      return tf.softmax(split.transpose([0, 1, 3, 2])).transpose([0, 3, 1, 2]).reshape([n, h, w, c]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), radix: this.radix, cardinality: this.cardinality };
  }
}

/**
 * Sums `radix` channel blocks ([N,H,W,radix·C] ordered radix-major → [N,H,W,C]); with a second input
 * (attention [N,1,1,radix·C]) it is the attention-weighted sum Σ_r x_r·a_r.
 */
export class RadixSum extends tf.layers.Layer {
  static className = 'RadixSum';
  readonly radix: number;

  constructor(args: { name?: string; radix: number }) {
    super({ name: args.name });
    this.radix = args.radix;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [s[0], s[1], s[2], (s[3] as number) / this.radix];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const list = Array.isArray(inputs) ? inputs : [inputs];
      const x = list[0] as tf.Tensor4D;
      const weighted = list.length > 1 ? x.mul(list[1]) : x;
      const [n, h, w, c] = x.shape;
      return weighted.reshape([n, h, w, this.radix, c / this.radix]).sum(3);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), radix: this.radix };
  }
}
