import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import {
  AdaptiveAvgPool2d, ChannelSlice, GroupNorm, HardActivation, MCDropout, PositionAttention, RadixSoftmax,
  RadixSum, ResizeBilinear, TorchConv2d, customLayers,
} from '../../ml/layers';

beforeAll(async () => {
  await initBackend(undefined, () => {});
});

/** The names saved topologies (checkpoints, `model.save`) use for the custom layers: they must never change. */
const SAVED_CLASS_NAMES: [string, unknown][] = [
  ['TorchConv2d', TorchConv2d],
  ['GroupNorm', GroupNorm],
  ['AdaptiveAvgPool2d', AdaptiveAvgPool2d],
  ['ResizeBilinear', ResizeBilinear],
  ['RadixSoftmax', RadixSoftmax],
  ['RadixSum', RadixSum],
  ['ChannelSlice', ChannelSlice],
  ['EchoHardActivation', HardActivation],
  ['PositionAttention', PositionAttention],
  ['MCDropout', MCDropout],
];

describe('ml/layers registration', () => {
  it('importing ml/layers registers every custom layer under its saved class name', () => {
    const registered = tf.serialization.SerializationMap.getMap().classNameMap;
    for (const [className, layerClass] of SAVED_CLASS_NAMES) {
      expect({ className, registered: registered[className]?.[0] }).toEqual({ className, registered: layerClass });
    }
    expect(new Set([...customLayers, MCDropout])).toEqual(new Set(SAVED_CLASS_NAMES.map(([, c]) => c)));
  });

  it('a model made of every custom layer saves and reloads with tf.loadLayersModel, predicting the same', async () => {
    const input = tf.input({ shape: [8, 8, 4], name: 'in' });
    let x = new TorchConv2d({ name: 'conv', filters: 8, kernelSize: 3, stride: 2, groups: 2, useBias: true }).apply(input) as tf.SymbolicTensor;
    x = new TorchConv2d({ name: 'dilated', filters: 8, kernelSize: 3, dilationRate: 2 }).apply(x) as tf.SymbolicTensor;
    x = new GroupNorm({ name: 'gn', groups: 4 }).apply(x) as tf.SymbolicTensor;
    x = new HardActivation({ name: 'hswish', kind: 'hardSwish' }).apply(x) as tf.SymbolicTensor;
    const pooled = new AdaptiveAvgPool2d({ name: 'pool', outputSize: [1, 1] }).apply(x) as tf.SymbolicTensor;
    const attention = new RadixSoftmax({ name: 'rsoftmax', radix: 2, cardinality: 1 }).apply(pooled) as tf.SymbolicTensor;
    x = new RadixSum({ name: 'rsum', radix: 2 }).apply([x, attention]) as tf.SymbolicTensor;
    const half = new ChannelSlice({ name: 'slice', start: 2, size: 2 }).apply(x) as tf.SymbolicTensor;
    x = new PositionAttention({ name: 'pab' }).apply([half, half, x]) as tf.SymbolicTensor;
    x = new MCDropout({ name: 'mcdrop', rate: 0.5 }).apply(x) as tf.SymbolicTensor;
    x = new ResizeBilinear({ name: 'resize', size: [8, 8], alignCorners: false }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: x });
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    expect(loaded.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
    const sample = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 3);
    const before = model.predict(sample) as tf.Tensor;
    const after = loaded.predict(sample) as tf.Tensor;
    expect(after.shape).toEqual([2, 8, 8, 4]);
    expect(tf.max(tf.abs(tf.sub(before, after))).dataSync()[0]).toBe(0);
    tf.dispose([sample, before, after]);
    model.dispose();
    loaded.dispose();
  });
});
