import * as tf from '@tensorflow/tfjs';

/** `F.interpolate(mode='bilinear')` to a fixed size; `alignCorners` as PyTorch's flag. */
export class ResizeBilinear extends tf.layers.Layer {
  static className = 'ResizeBilinear';
  readonly size: [number, number];
  readonly alignCorners: boolean;

  constructor(args: { name?: string; size: [number, number]; alignCorners: boolean }) {
    super({ name: args.name });
    this.size = args.size;
    this.alignCorners = args.alignCorners;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = inputShape as tf.Shape;
    return [s[0], this.size[0], this.size[1], s[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      if (x.shape[1] === this.size[0] && x.shape[2] === this.size[1]) return tf.clone(x);
      if (x.shape[1] === 1 && x.shape[2] === 1) return tf.tile(x, [1, this.size[0], this.size[1], 1]);
      // PyTorch align_corners=False is TF's half-pixel-centres convention.
      return tf.image.resizeBilinear(x, this.size, this.alignCorners, !this.alignCorners);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), size: this.size, alignCorners: this.alignCorners };
  }
}
