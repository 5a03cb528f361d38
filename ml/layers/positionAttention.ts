import * as tf from '@tensorflow/tfjs';

/**
 * The attention product of smp MAnet's position-wise attention block: softmax over the whole (HW × HW) map of
 * centre·topᵀ, times bottom, then smp's reshape of the [HW, C] result straight into [C, H, W] (a memory
 * reinterpretation, kept so the function matches smp exactly), returned as NHWC.
 */
export class PositionAttention extends tf.layers.Layer {
  static className = 'PositionAttention';

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (inputShape as tf.Shape[])[2];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [top, centre, bottom] = inputs as tf.Tensor4D[];
      const [n, h, w, c] = bottom.shape;
      const hw = h * w;
      const p = top.shape[3];
      const map = tf.matMul(centre.reshape([n, hw, p]) as tf.Tensor3D, top.reshape([n, hw, p]) as tf.Tensor3D, false, true);
      const attention = tf.softmax(map.reshape([n, hw * hw])).reshape([n, hw, hw]) as tf.Tensor3D;
      const mixed = tf.matMul(attention, bottom.reshape([n, hw, c]) as tf.Tensor3D);
      return mixed.reshape([n, c, h, w]).transpose([0, 2, 3, 1]);
    });
  }
}
