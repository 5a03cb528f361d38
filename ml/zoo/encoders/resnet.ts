/**
 * ResNet-family encoders with segmentation_models_pytorch's names and channel structures:
 * torchvision ResNet / ResNeXt, pretrainedmodels SE-ResNet / SE-ResNeXt, timm SK-ResNet / SK-ResNeXt and
 * timm ResNeSt (deep "D" stem, average-pool downsampling).
 *
 * Features follow smp: [input, stem (stride 2), layer1 (4), layer2 (8), layer3 (16), layer4 (32)].
 * `outputStride` < 32 reproduces smp's make_dilated: every conv of a dilated stage gets stride 1 and the
 * stage's dilation (2 for the last, 2 and 4 for the last two); ResNeSt's average pools lose their stride too.
 */
import type * as tf from '@tensorflow/tfjs';
import {
  LayerBuilder, activation, add, avgPool, batchNorm, channelsOf, conv2d, convBnAct, maxPool, selectiveKernel, splitAttention,
  squeezeExcite,
} from '../blocks';
import { makeDivisible, scaled, stageDilations, type EncoderBuildArgs, type EncoderRegistry, type EncoderSpec } from './contract';

type Sym = tf.SymbolicTensor;

type BlockKind = 'basic' | 'bottleneck' | 'seResNet' | 'seResNeXt' | 'seNet' | 'skBasic' | 'skBottleneck' | 'resnest';
/** torchvision 7×7; pretrainedmodels SENet 7×7 (ceil-mode pool) or three 3×3 (senet154); timm deep 3×3 stem. */
type StemKind = 'torchvision' | 'senet' | 'senet3x3' | 'deep';

interface ResNetPlan {
  family: string;
  block: BlockKind;
  stem: StemKind;
  layers: [number, number, number, number];
  groups?: number;
  baseWidth?: number;
  /** Deep stem width (timm stem_width); the stem outputs twice this. */
  stemWidth?: number;
  radix?: number;
  avdFirst?: boolean;
  /** SK attention width = make_divisible(width · rdRatio, 8); timm's SelectiveKernel default ratio is 1/16. */
  rdRatio?: number;
}

interface BlockContext {
  b: LayerBuilder;
  plan: ResNetPlan;
  ws: number;
  planes: number;
  stride: number;
  dilation: number;
  /** Whether this block owns the stage's downsampling shortcut. */
  first: boolean;
  /** 1–4 (torchvision's layer1…layer4). */
  stage: number;
  /** The previous stage's dilation: timm (smp's timm-resnest, built with output_stride) gives it to a dilated stage's first 3×3. */
  previousDilation: number;
}

/** Shortcut branch: identity, or (avg-pool →) 1×1 conv → BN when shape changes. */
function shortcut(x: Sym, name: string, ctx: BlockContext, outChannels: number): Sym {
  const { b, plan, stride } = ctx;
  if (!ctx.first || (stride === 1 && channelsOf(x) === outChannels)) return x;
  let y = x;
  let convStride = stride;
  if (plan.block === 'resnest') {
    if (stride > 1) y = avgPool(b, y, `${name}_pool`, { poolSize: 2, stride });
    // timm's downsample_avg in a dilated stage (smp builds timm-resnest with output_stride): AvgPool2dSame(2, 1).
    else if (ctx.dilation > 1) y = avgPool(b, y, `${name}_pool`, { poolSize: 2, stride: 1, padEnd: 1 });
    convStride = 1;
  }
  // SENet154's layer2–4 shortcuts are 3×3 convs (downsample_kernel_size=3, padding 1); all others are 1×1.
  const kernelSize = plan.block === 'seNet' && ctx.stage > 1 ? 3 : 1;
  y = conv2d(b, y, `${name}_conv`, { filters: outChannels, kernelSize, stride: convStride, dilation: kernelSize > 1 ? ctx.dilation : 1 });
  return batchNorm(b, y, `${name}_bn`);
}

function finish(b: LayerBuilder, name: string, body: Sym, skip: Sym): Sym {
  return activation(b, add(b, [body, skip], `${name}_add`), `${name}_out`, 'relu');
}

function basicBlock(x: Sym, name: string, ctx: BlockContext): Sym {
  const { b, ws, planes, stride, dilation } = ctx;
  const out = scaled(planes, ws);
  let y = convBnAct(b, x, `${name}_conv1`, { filters: out, kernelSize: 3, stride, dilation });
  y = convBnAct(b, y, `${name}_conv2`, { filters: out, kernelSize: 3, dilation, act: 'none' });
  return finish(b, name, y, shortcut(x, `${name}_downsample`, ctx, out));
}

/**
 * torchvision Bottleneck (stride on the 3×3) and pretrainedmodels' SE variants: SEResNetBottleneck (stride on
 * conv1), SEResNeXtBottleneck, and SENet154's SEBottleneck (conv1 to 2·planes, grouped conv2 to 4·planes).
 */
function bottleneckBlock(x: Sym, name: string, ctx: BlockContext): Sym {
  const { b, plan, ws, planes, stride, dilation } = ctx;
  const groups = plan.groups ?? 1;
  const baseWidth = plan.baseWidth ?? 64;
  let width1: number;
  let width2: number;
  if (plan.block === 'seResNet') {
    width1 = width2 = scaled(planes, ws);
  } else if (plan.block === 'seNet') {
    width1 = scaled(planes * 2, ws, groups);
    width2 = scaled(planes * 4, ws, groups);
  } else {
    width1 = width2 = scaled(Math.floor((planes * baseWidth) / 64) * groups, ws, groups);
  }
  const out = scaled(planes * 4, ws);
  const strideOnConv1 = plan.block === 'seResNet';
  let y = convBnAct(b, x, `${name}_conv1`, { filters: width1, kernelSize: 1, stride: strideOnConv1 ? stride : 1 });
  y = convBnAct(b, y, `${name}_conv2`, { filters: width2, kernelSize: 3, stride: strideOnConv1 ? 1 : stride, dilation, groups });
  y = convBnAct(b, y, `${name}_conv3`, { filters: out, kernelSize: 1, act: 'none' });
  if (plan.block === 'seResNet' || plan.block === 'seResNeXt' || plan.block === 'seNet') {
    y = squeezeExcite(b, y, `${name}_se`, { reducedChannels: Math.max(1, Math.floor(out / 16)) });
  }
  return finish(b, name, y, shortcut(x, `${name}_downsample`, ctx, out));
}

/**
 * timm's SelectiveKernel with the arguments smp 0.6.0 gives it: rd_divisor and split_input keep timm's defaults (8,
 * True) for all three SK encoders — timm's own skresnet models pass rd_divisor 16 (skresnext: 32, split_input False),
 * smp's pass only rd_ratio 1/8 (skresnet18/34) or nothing (skresnext50_32x4d).
 */
const SK_RD_DIVISOR = 8;

function skAttnChannels(plan: ResNetPlan, channels: number, ws: number): number {
  return makeDivisible(channels * (plan.rdRatio ?? 1 / 16), scaled(SK_RD_DIVISOR, ws));
}

function skBasicBlock(x: Sym, name: string, ctx: BlockContext): Sym {
  const { b, plan, ws, planes, stride, dilation } = ctx;
  const out = scaled(planes, ws);
  let y = selectiveKernel(b, x, `${name}_conv1`, {
    outChannels: out,
    stride,
    fixedDilation: dilation > 1 ? dilation : undefined,
    attnChannels: skAttnChannels(plan, out, ws),
  });
  y = convBnAct(b, y, `${name}_conv2`, { filters: out, kernelSize: 3, dilation, act: 'none' });
  return finish(b, name, y, shortcut(x, `${name}_downsample`, ctx, out));
}

function skBottleneckBlock(x: Sym, name: string, ctx: BlockContext): Sym {
  const { b, plan, ws, planes, stride, dilation } = ctx;
  const groups = plan.groups ?? 1;
  // Each of the two paths sees half the width, split into `groups`: a scaled width stays divisible by 2 · groups.
  const width = scaled(Math.floor((planes * (plan.baseWidth ?? 64)) / 64) * groups, ws, 2 * groups);
  const out = scaled(planes * 4, ws);
  let y = convBnAct(b, x, `${name}_conv1`, { filters: width, kernelSize: 1 });
  y = selectiveKernel(b, y, `${name}_conv2`, {
    outChannels: width,
    stride,
    fixedDilation: dilation > 1 ? dilation : undefined,
    groups,
    attnChannels: skAttnChannels(plan, width, ws),
  });
  y = convBnAct(b, y, `${name}_conv3`, { filters: out, kernelSize: 1, act: 'none' });
  return finish(b, name, y, shortcut(x, `${name}_downsample`, ctx, out));
}

/** timm ResNestBottleneck: split-attention 3×3, stride moved to a 3×3 average pool ("avd"). */
function resnestBlock(x: Sym, name: string, ctx: BlockContext): Sym {
  const { b, plan, ws, planes, stride, dilation } = ctx;
  const cardinality = plan.groups ?? 1;
  const radix = plan.radix ?? 2;
  const groupWidth = scaled(Math.floor((planes * (plan.baseWidth ?? 64)) / 64) * cardinality, ws, cardinality * radix);
  const out = scaled(planes * 4, ws);
  const attnChannels = Math.max(
    Math.floor((groupWidth * radix) / 4 / cardinality) * cardinality,
    scaled(32, ws, cardinality),
  );
  let y = convBnAct(b, x, `${name}_conv1`, { filters: groupWidth, kernelSize: 1 });
  const avd = stride > 1;
  if (avd && plan.avdFirst) y = avgPool(b, y, `${name}_avd_first`, { poolSize: 3, stride, padding: 1 });
  const conv2Dilation = ctx.first ? ctx.previousDilation : dilation;
  y = splitAttention(b, y, `${name}_conv2`, { outChannels: groupWidth, stride: 1, dilation: conv2Dilation, cardinality, radix, attnChannels });
  if (avd && !plan.avdFirst) y = avgPool(b, y, `${name}_avd_last`, { poolSize: 3, stride, padding: 1 });
  y = convBnAct(b, y, `${name}_conv3`, { filters: out, kernelSize: 1, act: 'none' });
  return finish(b, name, y, shortcut(x, `${name}_downsample`, ctx, out));
}

const BLOCKS: Record<BlockKind, (x: Sym, name: string, ctx: BlockContext) => Sym> = {
  basic: basicBlock,
  bottleneck: bottleneckBlock,
  seResNet: bottleneckBlock,
  seResNeXt: bottleneckBlock,
  seNet: bottleneckBlock,
  skBasic: skBasicBlock,
  skBottleneck: skBottleneckBlock,
  resnest: resnestBlock,
};

function stem(b: LayerBuilder, x: Sym, plan: ResNetPlan, ws: number): Sym {
  if (plan.stem === 'deep') {
    const width = scaled(plan.stemWidth ?? 32, ws);
    let y = convBnAct(b, x, 'conv1_0', { filters: width, kernelSize: 3, stride: 2 });
    y = convBnAct(b, y, 'conv1_1', { filters: width, kernelSize: 3 });
    return convBnAct(b, y, 'conv1_2', { filters: scaled(2 * (plan.stemWidth ?? 32), ws), kernelSize: 3 });
  }
  if (plan.stem === 'senet3x3') {
    let y = convBnAct(b, x, 'conv1', { filters: scaled(64, ws), kernelSize: 3, stride: 2 });
    y = convBnAct(b, y, 'conv2', { filters: scaled(64, ws), kernelSize: 3 });
    return convBnAct(b, y, 'conv3', { filters: scaled(128, ws), kernelSize: 3 });
  }
  return convBnAct(b, x, 'conv1', { filters: scaled(64, ws), kernelSize: 7, stride: 2 });
}

function buildResNet(plan: ResNetPlan, args: EncoderBuildArgs): Sym[] {
  const b = new LayerBuilder(args.name);
  const ws = args.widthScale;
  const features: Sym[] = [args.input];
  let x = stem(b, args.input, plan, ws);
  features.push(x);
  if (args.depth < 2) return features;
  x = plan.stem === 'senet' || plan.stem === 'senet3x3'
    ? maxPool(b, x, 'maxpool', { poolSize: 3, stride: 2, padEnd: 1 }) // ceil_mode=True
    : maxPool(b, x, 'maxpool', { poolSize: 3, stride: 2, padding: 1 });
  const planesPerStage = [64, 128, 256, 512];
  const dilations = stageDilations(args.outputStride);
  for (let stage = 1; stage <= 4 && stage + 1 <= args.depth; stage++) {
    const dilation = dilations[stage + 1]; // layer<stage> makes feature stage + 1
    const stride = stage === 1 || dilation > 1 ? 1 : 2;
    for (let i = 0; i < plan.layers[stage - 1]; i++) {
      const ctx: BlockContext = {
        b,
        plan,
        ws,
        planes: planesPerStage[stage - 1],
        stride: i === 0 ? stride : 1,
        dilation,
        first: i === 0,
        stage,
        previousDilation: dilations[stage],
      };
      x = BLOCKS[plan.block](x, `layer${stage}_${i}`, ctx);
    }
    features.push(x);
  }
  return features;
}

function encoder(plan: ResNetPlan, outChannels: number[]): EncoderSpec {
  return { family: plan.family, outChannels, build: (args) => buildResNet(plan, args) };
}

const BASIC_CHANNELS = [3, 64, 64, 128, 256, 512];
const BOTTLENECK_CHANNELS = [3, 64, 256, 512, 1024, 2048];
const DEEP_STEM_64_CHANNELS = [3, 128, 256, 512, 1024, 2048];

const resnet = (layers: ResNetPlan['layers'], block: BlockKind): ResNetPlan => ({ family: 'ResNet', block, stem: 'torchvision', layers });
const resnext = (layers: ResNetPlan['layers'], baseWidth: number): ResNetPlan => ({
  family: 'ResNeXt', block: 'bottleneck', stem: 'torchvision', layers, groups: 32, baseWidth,
});
const seResnet = (layers: ResNetPlan['layers']): ResNetPlan => ({ family: 'SE-ResNet', block: 'seResNet', stem: 'senet', layers });
const seResnext = (layers: ResNetPlan['layers']): ResNetPlan => ({
  family: 'SE-ResNeXt', block: 'seResNeXt', stem: 'senet', layers, groups: 32, baseWidth: 4,
});
const resnest = (layers: ResNetPlan['layers'], stemWidth: number, extra: Partial<ResNetPlan> = {}): ResNetPlan => ({
  family: 'ResNeSt', block: 'resnest', stem: 'deep', layers, stemWidth, radix: 2, groups: 1, baseWidth: 64, ...extra,
});

export const resnetEncoders: EncoderRegistry = {
  resnet18: encoder(resnet([2, 2, 2, 2], 'basic'), BASIC_CHANNELS),
  resnet34: encoder(resnet([3, 4, 6, 3], 'basic'), BASIC_CHANNELS),
  resnet50: encoder(resnet([3, 4, 6, 3], 'bottleneck'), BOTTLENECK_CHANNELS),
  resnet101: encoder(resnet([3, 4, 23, 3], 'bottleneck'), BOTTLENECK_CHANNELS),
  resnet152: encoder(resnet([3, 8, 36, 3], 'bottleneck'), BOTTLENECK_CHANNELS),
  resnext50_32x4d: encoder(resnext([3, 4, 6, 3], 4), BOTTLENECK_CHANNELS),
  resnext101_32x4d: encoder(resnext([3, 4, 23, 3], 4), BOTTLENECK_CHANNELS),
  resnext101_32x8d: encoder(resnext([3, 4, 23, 3], 8), BOTTLENECK_CHANNELS),
  resnext101_32x16d: encoder(resnext([3, 4, 23, 3], 16), BOTTLENECK_CHANNELS),
  resnext101_32x32d: encoder(resnext([3, 4, 23, 3], 32), BOTTLENECK_CHANNELS),
  resnext101_32x48d: encoder(resnext([3, 4, 23, 3], 48), BOTTLENECK_CHANNELS),
  se_resnet50: encoder(seResnet([3, 4, 6, 3]), BOTTLENECK_CHANNELS),
  se_resnet101: encoder(seResnet([3, 4, 23, 3]), BOTTLENECK_CHANNELS),
  se_resnet152: encoder(seResnet([3, 8, 36, 3]), BOTTLENECK_CHANNELS),
  se_resnext50_32x4d: encoder(seResnext([3, 4, 6, 3]), BOTTLENECK_CHANNELS),
  se_resnext101_32x4d: encoder(seResnext([3, 4, 23, 3]), BOTTLENECK_CHANNELS),
  senet154: encoder({ family: 'SENet', block: 'seNet', stem: 'senet3x3', layers: [3, 8, 36, 3], groups: 64 }, DEEP_STEM_64_CHANNELS),
  'timm-resnest14d': encoder(resnest([1, 1, 1, 1], 32), BOTTLENECK_CHANNELS),
  'timm-resnest26d': encoder(resnest([2, 2, 2, 2], 32), BOTTLENECK_CHANNELS),
  'timm-resnest50d': encoder(resnest([3, 4, 6, 3], 32), BOTTLENECK_CHANNELS),
  'timm-resnest101e': encoder(resnest([3, 4, 23, 3], 64), DEEP_STEM_64_CHANNELS),
  'timm-resnest200e': encoder(resnest([3, 24, 36, 3], 64), DEEP_STEM_64_CHANNELS),
  'timm-resnest269e': encoder(resnest([3, 30, 48, 8], 64), DEEP_STEM_64_CHANNELS),
  'timm-resnest50d_4s2x40d': encoder(resnest([3, 4, 6, 3], 32, { radix: 4, groups: 2, baseWidth: 40, avdFirst: true }), BOTTLENECK_CHANNELS),
  'timm-resnest50d_1s4x24d': encoder(resnest([3, 4, 6, 3], 32, { radix: 1, groups: 4, baseWidth: 24, avdFirst: true }), BOTTLENECK_CHANNELS),
  'timm-skresnet18': encoder({ family: 'SK-ResNet', block: 'skBasic', stem: 'torchvision', layers: [2, 2, 2, 2], rdRatio: 1 / 8 }, BASIC_CHANNELS),
  'timm-skresnet34': encoder({ family: 'SK-ResNet', block: 'skBasic', stem: 'torchvision', layers: [3, 4, 6, 3], rdRatio: 1 / 8 }, BASIC_CHANNELS),
  'timm-skresnext50_32x4d': encoder(
    { family: 'SK-ResNeXt', block: 'skBottleneck', stem: 'torchvision', layers: [3, 4, 6, 3], groups: 32, baseWidth: 4 },
    BOTTLENECK_CHANNELS,
  ),
};
