/**
 * Dual Path Network encoders (Cadene's pretrainedmodels DPN, as wrapped by smp's DPNEncorder; classifier removed).
 * Each block carries a pair (residual path, densely connected path). smp's features: 1 = conv1 → BN → ReLU (before
 * the max-pool); 2–4 = ReLU(concat(residual, dense)) of the stage's last block; 5 = `conv5_bn_ac` (BN + ReLU of the
 * concatenation). BN epsilon is 1e-3 throughout, convolutions have no bias.
 * Layer names follow the PyTorch modules (c1x1_w_s1/_s2, c1x1_a, c3x3_b, c1x1_c or c1x1_c1/c1x1_c2 for "b"),
 * and the projections are one conv sliced by channel, as in PyTorch, so weights map one to one.
 */
import type * as tf from '@tensorflow/tfjs';
import { LayerBuilder, activation, add, batchNorm, channelSlice, concat, conv2d, convBnAct, maxPool } from '../blocks';
import {
  checkDepth, greatestCommonDivisor, scaled, stageDilations, strideAndDilation, type EncoderRegistry, type EncoderSpec,
} from './contract';

type Sym = tf.SymbolicTensor;

const BN_EPSILON = 1e-3;

interface DpnParams {
  small: boolean;
  b: boolean;
  initFeatures: number;
  kR: number;
  groups: number;
  /** Blocks per stage conv2…conv5. */
  kSec: readonly [number, number, number, number];
  /** Dense-path increment per block, per stage. */
  incSec: readonly [number, number, number, number];
  outChannels: readonly number[];
}

interface DualPath {
  residual: Sym;
  dense: Sym;
}

/** BN → ReLU, DPN's pre-activation. */
function bnRelu(b: LayerBuilder, x: Sym, name: string): Sym {
  return activation(b, batchNorm(b, x, `${name}_bn`, { epsilon: BN_EPSILON }), `${name}_relu`, 'relu');
}

/** BN → ReLU → conv, the pre-activation unit of DPN. */
function bnActConv(
  b: LayerBuilder, x: Sym, name: string, o: { filters: number; kernelSize: number; stride?: number; dilation?: number; groups?: number },
): Sym {
  return conv2d(b, bnRelu(b, x, name), `${name}_conv`, o);
}

interface BlockShape {
  bottleneck: number;
  groups: number;
  residualChannels: number;
  inc: number;
  /** 'proj' (stride-1 projection), 'down' (stride-2 projection) or 'normal' (identity paths). */
  type: 'proj' | 'down' | 'normal';
  /** The "b" variant: c1x1_c is BN+ReLU followed by two separate 1×1 convs instead of one conv that is sliced. */
  b: boolean;
  stageDilation: number;
}

function dualPathBlock(b: LayerBuilder, x: Sym | DualPath, name: string, s: BlockShape): DualPath {
  const xIn = 'residual' in x ? concat(b, [x.residual, x.dense], `${name}_in`) : x;
  const { stride, dilation } = strideAndDilation(s.type === 'down' ? 2 : 1, s.stageDilation);
  let shortcutResidual: Sym;
  let shortcutDense: Sym;
  if (s.type === 'normal') {
    if (!('residual' in x)) throw new Error(`${name}: a normal dual-path block needs a dual-path input.`);
    shortcutResidual = x.residual;
    shortcutDense = x.dense;
  } else {
    const projName = `${name}_c1x1_w_s${s.type === 'down' ? 2 : 1}`;
    const projection = bnActConv(b, xIn, projName, { filters: s.residualChannels + 2 * s.inc, kernelSize: 1, stride });
    shortcutResidual = channelSlice(b, projection, `${projName}_residual`, 0, s.residualChannels);
    shortcutDense = channelSlice(b, projection, `${projName}_dense`, s.residualChannels, 2 * s.inc);
  }
  let y = bnActConv(b, xIn, `${name}_c1x1_a`, { filters: s.bottleneck, kernelSize: 1 });
  y = bnActConv(b, y, `${name}_c3x3_b`, { filters: s.bottleneck, kernelSize: 3, stride, dilation, groups: s.groups });
  let outResidual: Sym;
  let outDense: Sym;
  if (s.b) {
    const pre = bnRelu(b, y, `${name}_c1x1_c`);
    outResidual = conv2d(b, pre, `${name}_c1x1_c1`, { filters: s.residualChannels, kernelSize: 1 });
    outDense = conv2d(b, pre, `${name}_c1x1_c2`, { filters: s.inc, kernelSize: 1 });
  } else {
    const out = bnActConv(b, y, `${name}_c1x1_c`, { filters: s.residualChannels + s.inc, kernelSize: 1 });
    outResidual = channelSlice(b, out, `${name}_c1x1_c_residual`, 0, s.residualChannels);
    outDense = channelSlice(b, out, `${name}_c1x1_c_dense`, s.residualChannels, s.inc);
  }
  return {
    residual: add(b, [shortcutResidual, outResidual], `${name}_residual`),
    dense: concat(b, [shortcutDense, outDense], `${name}_dense`),
  };
}

function dpn(p: DpnParams): EncoderSpec {
  return {
    family: 'DPN',
    outChannels: p.outChannels,
    build({ input, depth, widthScale, outputStride, name }) {
      checkDepth(depth, 'DPN');
      const dilations = stageDilations(outputStride);
      const b = new LayerBuilder(name, 'keras');
      const features: Sym[] = [input];
      const stem = convBnAct(b, input, 'conv1', {
        filters: scaled(p.initFeatures, widthScale), kernelSize: p.small ? 3 : 7, stride: 2, bnEpsilon: BN_EPSILON,
      });
      features.push(stem);
      let x: Sym | DualPath = maxPool(b, stem, 'conv1_pool', { poolSize: 3, stride: 2, padding: 1 });
      const bwFactor = p.small ? 1 : 4;
      for (let stage = 2; stage <= depth; stage += 1) {
        const i = stage - 2;
        const bw = 64 * 2 ** i * bwFactor;
        const r = Math.floor((p.kR * bw) / (64 * bwFactor));
        const bottleneck = scaled(r, widthScale);
        const shape = {
          bottleneck,
          groups: greatestCommonDivisor(bottleneck, p.groups),
          residualChannels: scaled(bw, widthScale),
          inc: scaled(p.incSec[i], widthScale),
          stageDilation: dilations[stage],
        };
        for (let block = 1; block <= p.kSec[i]; block += 1) {
          const type = block > 1 ? 'normal' : stage === 2 ? 'proj' : 'down';
          x = dualPathBlock(b, x, `conv${stage}_${block}`, { ...shape, type, b: p.b });
        }
        const pair = x as DualPath;
        const joined = concat(b, [pair.residual, pair.dense], `conv${stage}_out`);
        features.push(stage === 5 ? bnRelu(b, joined, 'conv5_bn_ac') : activation(b, joined, `feature${stage}_relu`, 'relu'));
      }
      return features;
    },
  };
}

const DPN68: Omit<DpnParams, 'outChannels' | 'b'> = {
  small: true, initFeatures: 10, kR: 128, groups: 32, kSec: [3, 4, 12, 3], incSec: [16, 32, 32, 64],
};

export const dpnEncoders: EncoderRegistry = {
  dpn68: dpn({ ...DPN68, b: false, outChannels: [3, 10, 144, 320, 704, 832] }),
  dpn68b: dpn({ ...DPN68, b: true, outChannels: [3, 10, 144, 320, 704, 832] }),
  dpn92: dpn({
    small: false, b: false, initFeatures: 64, kR: 96, groups: 32, kSec: [3, 4, 20, 3], incSec: [16, 32, 24, 128],
    outChannels: [3, 64, 336, 704, 1552, 2688],
  }),
  dpn98: dpn({
    small: false, b: false, initFeatures: 96, kR: 160, groups: 40, kSec: [3, 6, 20, 3], incSec: [16, 32, 32, 128],
    outChannels: [3, 96, 336, 768, 1728, 2688],
  }),
  dpn107: dpn({
    small: false, b: false, initFeatures: 128, kR: 200, groups: 50, kSec: [4, 8, 20, 3], incSec: [20, 64, 64, 128],
    outChannels: [3, 128, 376, 1152, 2432, 2688],
  }),
  dpn131: dpn({
    small: false, b: false, initFeatures: 128, kR: 160, groups: 40, kSec: [4, 8, 28, 3], incSec: [16, 32, 32, 128],
    outChannels: [3, 128, 352, 832, 1984, 2688],
  }),
};
