/**
 * Dual Path Network encoders (Cadene's pretrainedmodels DPN, as wrapped by smp's DPNEncorder; classifier removed).
 * Each block carries a pair (residual path, densely connected path). smp's features: 1 = conv1 → BN → ReLU (before
 * the max-pool); 2–4 = ReLU(concat(residual, dense)) of the stage's last block; 5 = `conv5_bn_ac` (BN + ReLU of the
 * concatenation). BN epsilon is 1e-3 throughout, convolutions have no bias.
 * Layer names follow the PyTorch modules (c1x1_w_s1/_s2, c1x1_a, c3x3_b, c1x1_c or c1x1_c1/c1x1_c2 for "b"),
 * and the projections are one conv sliced by channel, as in PyTorch, so weights map one to one.
 */
import { scaled, type EncoderRegistry, type EncoderSpec } from '../encoderTypes';
import { ChannelSlice } from '../blocks';
import {
  activation, add, batchNorm, checkDepth, concat, conv, convBnAct, greatestCommonDivisor, maxPool, stageDilations,
  strideAndDilation, type Sym,
} from './common';

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

/** BN → ReLU → conv, the pre-activation unit of DPN. */
function bnActConv(
  x: Sym, filters: number, kernel: number, stride: number, dilation: number, groups: number, name: string,
): Sym {
  const y = activation(batchNorm(x, `${name}_bn`, BN_EPSILON), 'relu', `${name}_relu`);
  return conv(y, { filters, kernel, stride, dilation, groups, name: `${name}_conv` });
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

function channelSlice(x: Sym, start: number, size: number, name: string): Sym {
  return new ChannelSlice({ name, start, size }).apply(x) as Sym;
}

function dualPathBlock(x: Sym | DualPath, s: BlockShape, name: string): DualPath {
  const xIn = 'residual' in x ? concat([x.residual, x.dense], `${name}_in`) : x;
  const { stride, dilation } = strideAndDilation(s.type === 'down' ? 2 : 1, s.stageDilation);
  let shortcutResidual: Sym;
  let shortcutDense: Sym;
  if (s.type === 'normal') {
    if (!('residual' in x)) throw new Error(`${name}: a normal dual-path block needs a dual-path input.`);
    shortcutResidual = x.residual;
    shortcutDense = x.dense;
  } else {
    const projName = `${name}_c1x1_w_s${s.type === 'down' ? 2 : 1}`;
    const projection = bnActConv(xIn, s.residualChannels + 2 * s.inc, 1, stride, 1, 1, projName);
    shortcutResidual = channelSlice(projection, 0, s.residualChannels, `${projName}_residual`);
    shortcutDense = channelSlice(projection, s.residualChannels, 2 * s.inc, `${projName}_dense`);
  }
  let y = bnActConv(xIn, s.bottleneck, 1, 1, 1, 1, `${name}_c1x1_a`);
  y = bnActConv(y, s.bottleneck, 3, stride, dilation, s.groups, `${name}_c3x3_b`);
  let outResidual: Sym;
  let outDense: Sym;
  if (s.b) {
    const pre = activation(batchNorm(y, `${name}_c1x1_c_bn`, BN_EPSILON), 'relu', `${name}_c1x1_c_relu`);
    outResidual = conv(pre, { filters: s.residualChannels, kernel: 1, name: `${name}_c1x1_c1` });
    outDense = conv(pre, { filters: s.inc, kernel: 1, name: `${name}_c1x1_c2` });
  } else {
    const out = bnActConv(y, s.residualChannels + s.inc, 1, 1, 1, 1, `${name}_c1x1_c`);
    outResidual = channelSlice(out, 0, s.residualChannels, `${name}_c1x1_c_residual`);
    outDense = channelSlice(out, s.residualChannels, s.inc, `${name}_c1x1_c_dense`);
  }
  return {
    residual: add([shortcutResidual, outResidual], `${name}_residual`),
    dense: concat([shortcutDense, outDense], `${name}_dense`),
  };
}

function dpn(p: DpnParams): EncoderSpec {
  return {
    family: 'DPN',
    outChannels: p.outChannels,
    build({ input, depth, widthScale, outputStride, name }) {
      checkDepth(depth, 'DPN');
      const dilations = stageDilations(outputStride);
      const features: Sym[] = [input];
      const stem = convBnAct(input, {
        filters: scaled(p.initFeatures, widthScale), kernel: p.small ? 3 : 7, stride: 2, act: 'relu',
        bnEpsilon: BN_EPSILON, name: `${name}_conv1`,
      });
      features.push(stem);
      let x: Sym | DualPath = maxPool(stem, 3, 2, 1, `${name}_conv1_pool`);
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
        for (let b = 1; b <= p.kSec[i]; b += 1) {
          const type = b > 1 ? 'normal' : stage === 2 ? 'proj' : 'down';
          x = dualPathBlock(x, { ...shape, type, b: p.b }, `${name}_conv${stage}_${b}`);
        }
        const pair = x as DualPath;
        const joined = concat([pair.residual, pair.dense], `${name}_conv${stage}_out`);
        features.push(stage === 5
          ? activation(batchNorm(joined, `${name}_conv5_bn_ac_bn`, BN_EPSILON), 'relu', `${name}_conv5_bn_ac_relu`)
          : activation(joined, 'relu', `${name}_feature${stage}_relu`));
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
