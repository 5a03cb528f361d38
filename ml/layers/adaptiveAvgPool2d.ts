import * as tf from '@tensorflow/tfjs';

/** Averaging matrix of `nn.AdaptiveAvgPool2d` along one axis: bin i covers [⌊i·n/out⌋, ⌈(i+1)·n/out⌉). */
export function adaptiveMatrix(inSize: number, outSize: number): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < outSize; i++) {
    const start = Math.floor((i * inSize) / outSize);
    const end = Math.ceil(((i + 1) * inSize) / outSize);
    rows.push(Array.from({ length: inSize }, (_, j) => (j >= start && j < end ? 1 / (end - start) : 0)));
  }
  return rows;
}

/** `nn.AdaptiveAvgPool2d((h, w))`; input spatial size must be static. */
export class AdaptiveAvgPool2d extends tf.layers.Layer {
  static className = 'AdaptiveAvgPool2d';
  readonly outputSize: [number, number];

  constructor(args: { name?: string; outputSize: [number, number] }) {
    super({ name: args.name });
    this.outputSize = args.outputSize;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = inputShape as tf.Shape;
    return [s[0], this.outputSize[0], this.outputSize[1], s[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const [n, h, w, c] = x.shape;
      const [p, q] = this.outputSize;
      if (p === 1 && q === 1) return tf.mean(x, [1, 2], true);
      // Rows: [P,H] · [N,H,W·C]; columns: [Q,W] · [N,W,P·C] after moving W to the front.
      const rows = tf.tensor2d(adaptiveMatrix(h, p));
      const cols = tf.tensor2d(adaptiveMatrix(w, q));
      const pooledRows = tf.matMul(rows.expandDims(0).tile([n, 1, 1]) as tf.Tensor3D, x.reshape([n, h, w * c]) as tf.Tensor3D);
      const byCols = pooledRows.reshape([n, p, w, c]).transpose([0, 2, 1, 3]).reshape([n, w, p * c]) as tf.Tensor3D;
      const pooled = tf.matMul(cols.expandDims(0).tile([n, 1, 1]) as tf.Tensor3D, byCols);
      return pooled.reshape([n, q, p, c]).transpose([0, 2, 1, 3]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), outputSize: this.outputSize };
  }
}
