/**
 * PyTorch module paths (segmentation_models_pytorch 0.6 state_dict names, and the torchvision / timm /
 * pretrainedmodels / lukemelas names smp's encoders inherit) → the zoo's layer names. A module path is a state_dict
 * key without its last part (`encoder.layer1.0.bn1.weight` → `encoder.layer1.0.bn1`); which weight of the layer a
 * leaf is (`weight` → kernel or gamma, …) is decided by the zoo layer itself (`plan.ts`).
 *
 * Each family is a list of rewrites applied in order to the path inside the encoder (after `encoder.` and timm's
 * `model.` wrapper), then dots become underscores and `encoder_` is prefixed. Modules smp holds but never runs are
 * listed per family in `unused` (skipped by name, and listed).
 */
type Rewrite = [RegExp, string];

export interface FamilyNaming {
  rewrites: Rewrite[];
  /** Module paths (inside the encoder) that smp or the source model holds and the zoo has no counterpart for. */
  unused: { pattern: RegExp; reason: string }[];
}

const CLASSIFIER = { pattern: /^(fc|_fc|classifier|last_linear|head(\..*)?)$/, reason: 'classifier head (smp removes it)' };

/** torchvision ResNet / ResNeXt, timm SK-ResNet: `convN` + `bnN` → `convN_conv` + `convN_bn`. */
const torchvisionResNet: Rewrite[] = [
  [/^conv1$/, 'conv1_conv'],
  [/^bn1$/, 'conv1_bn'],
  [/^(layer\d\.\d+)\.conv(\d)$/, '$1.conv$2_conv'],
  [/^(layer\d\.\d+)\.bn(\d)$/, '$1.conv$2_bn'],
  [/\.downsample\.0$/, '.downsample_conv'],
  [/\.downsample\.1$/, '.downsample_bn'],
];

const FAMILIES: Record<string, FamilyNaming> = {
  resnet: { rewrites: torchvisionResNet, unused: [CLASSIFIER] },
  // timm SelectiveKernel: conv1.paths.N.{conv,bn}, conv1.attn.{fc_reduce,bn,fc_select}.
  sk: {
    rewrites: [
      ...torchvisionResNet,
      [/\.paths\.(\d)\./, '.path$1.'],
      [/\.attn\.fc_(reduce|select)$/, '.fc_$1'],
      [/\.attn\.bn$/, '.attn_bn'],
    ],
    unused: [CLASSIFIER],
  },
  // pretrainedmodels SENet: layer0.{conv1,bn1[,conv2,bn2,conv3,bn3]}, se_module.fc1/fc2.
  senet: {
    rewrites: [
      [/^layer0\.conv(\d)$/, 'conv$1_conv'],
      [/^layer0\.bn(\d)$/, 'conv$1_bn'],
      [/^(layer\d\.\d+)\.conv(\d)$/, '$1.conv$2_conv'],
      [/^(layer\d\.\d+)\.bn(\d)$/, '$1.conv$2_bn'],
      [/\.se_module\.fc(\d)$/, '.se_fc$1'],
      [/\.downsample\.0$/, '.downsample_conv'],
      [/\.downsample\.1$/, '.downsample_bn'],
    ],
    unused: [CLASSIFIER],
  },
  // timm ResNeSt: deep stem conv1.{0,1,3,4,6} + bn1; downsample.{0 pool,1 conv,2 bn}; conv2 = SplitAttn.
  resnest: {
    rewrites: [
      [/^conv1\.0$/, 'conv1_0_conv'],
      [/^conv1\.1$/, 'conv1_0_bn'],
      [/^conv1\.3$/, 'conv1_1_conv'],
      [/^conv1\.4$/, 'conv1_1_bn'],
      [/^conv1\.6$/, 'conv1_2_conv'],
      [/^bn1$/, 'conv1_2_bn'],
      [/^(layer\d\.\d+)\.conv(\d)$/, '$1.conv$2_conv'],
      [/^(layer\d\.\d+)\.bn(\d)$/, '$1.conv$2_bn'],
      [/\.downsample\.1$/, '.downsample_conv'],
      [/\.downsample\.2$/, '.downsample_bn'],
    ],
    unused: [CLASSIFIER],
  },
  // torchvision DenseNet: features.{conv0,norm0,denseblockN.denselayerM.*,transitionN.*,norm5}.
  densenet: {
    rewrites: [[/^features\./, ''], [/\.denselayer(\d+)/, '.layer$1']],
    unused: [CLASSIFIER],
  },
  // lukemelas EfficientNet: _conv_stem/_bn0, _blocks.N._{expand_conv,bn0,depthwise_conv,bn1,se_*,project_conv,bn2}.
  efficientnet: {
    rewrites: [
      [/^_conv_stem$/, 'stem'],
      [/^_bn0$/, 'stem_bn'],
      [/^_blocks\.(\d+)\._expand_conv$/, 'block$1.expand'],
      [/^_blocks\.(\d+)\._bn0$/, 'block$1.expand_bn'],
      [/^_blocks\.(\d+)\._depthwise_conv$/, 'block$1.depthwise'],
      [/^_blocks\.(\d+)\._bn1$/, 'block$1.depthwise_bn'],
      [/^_blocks\.(\d+)\._se_(reduce|expand)$/, 'block$1.se_$2'],
      [/^_blocks\.(\d+)\._project_conv$/, 'block$1.project'],
      [/^_blocks\.(\d+)\._bn2$/, 'block$1.project_bn'],
    ],
    unused: [CLASSIFIER, { pattern: /^(_conv_head|_bn1)$/, reason: "EfficientNet's head, which smp holds but never runs" }],
  },
  // pretrainedmodels DPN: features.conv1_1.{conv,bn}, features.convX_Y.<unit>.{bn,conv}, features.conv5_bn_ac.bn.
  dpn: {
    rewrites: [[/^features\./, ''], [/^conv1_1\.conv$/, 'conv1'], [/^conv1_1\.bn$/, 'conv1_bn']],
    unused: [CLASSIFIER],
  },
  // timm RegNet: stem.{conv,bn}, sN.bM.{conv1,conv2,conv3,downsample}.{conv,bn}, se.fc1/fc2.
  regnet: {
    rewrites: [
      [/\.se\.fc1$/, '.se_reduce'],
      [/\.se\.fc2$/, '.se_expand'],
      [/\.conv$/, ''],
      [/\.bn$/, '_bn'],
    ],
    unused: [CLASSIFIER, { pattern: /^final_conv(\..*)?$/, reason: 'classifier head (smp removes it)' }],
  },
  // torchvision VGG: features.N, numbered in order (see `vggIndices`).
  vgg: { rewrites: [], unused: [CLASSIFIER] },
  // torchvision MobileNetV2: features.0.{0,1}, features.1.conv.{0.0,0.1,1,2} (no expansion), features.N.conv.{0.0,0.1,1.0,1.1,2,3}, features.18.{0,1}.
  mobilenet: {
    rewrites: [
      [/^features\.(\d+)\.0$/, 'features$1'],
      [/^features\.(\d+)\.1$/, 'features$1_bn'],
      [/^features\.1\.conv\.0\.0$/, 'features1_dw'],
      [/^features\.1\.conv\.0\.1$/, 'features1_dw_bn'],
      [/^features\.1\.conv\.1$/, 'features1_project'],
      [/^features\.1\.conv\.2$/, 'features1_project_bn'],
      [/^features\.(\d+)\.conv\.0\.0$/, 'features$1_expand'],
      [/^features\.(\d+)\.conv\.0\.1$/, 'features$1_expand_bn'],
      [/^features\.(\d+)\.conv\.1\.0$/, 'features$1_dw'],
      [/^features\.(\d+)\.conv\.1\.1$/, 'features$1_dw_bn'],
      [/^features\.(\d+)\.conv\.2$/, 'features$1_project'],
      [/^features\.(\d+)\.conv\.3$/, 'features$1_project_bn'],
    ],
    unused: [CLASSIFIER],
  },
  // timm MobileNetV3: conv_stem/bn1; blocks.0.* depthwise-separable (conv_dw, bn1, se, conv_pw, bn2); inverted
  // residuals (conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3); the last stage a ConvBnAct (conv, bn1).
  mobilenetv3: {
    rewrites: [
      [/^conv_stem$/, 'stem'],
      [/^bn1$/, 'stem_bn'],
      [/^blocks\.(\d+)\.(\d+)\.se\.conv_(reduce|expand)$/, 'blocks$1.$2.se_$3'],
      [/^blocks\.0\.(\d+)\.conv_dw$/, 'blocks0.$1.dw'],
      [/^blocks\.0\.(\d+)\.bn1$/, 'blocks0.$1.dw_bn'],
      [/^blocks\.0\.(\d+)\.conv_pw$/, 'blocks0.$1.pwl'],
      [/^blocks\.0\.(\d+)\.bn2$/, 'blocks0.$1.pwl_bn'],
      [/^blocks\.(\d+)\.(\d+)\.conv_pw$/, 'blocks$1.$2.pw'],
      [/^blocks\.(\d+)\.(\d+)\.conv_dw$/, 'blocks$1.$2.dw'],
      [/^blocks\.(\d+)\.(\d+)\.conv_pwl$/, 'blocks$1.$2.pwl'],
      [/^blocks\.(\d+)\.(\d+)\.bn3$/, 'blocks$1.$2.pwl_bn'],
      [/^blocks\.(\d+)\.(\d+)\.conv$/, 'blocks$1.$2'],
      [/^blocks\.(\d+)\.(\d+)\.bn1$/, 'blocks$1.$2.@bn1'],
      [/^blocks\.(\d+)\.(\d+)\.bn2$/, 'blocks$1.$2.dw_bn'],
    ],
    unused: [CLASSIFIER, { pattern: /^(conv_head|bn2|global_pool.*)$/, reason: "MobileNetV3's head, which smp drops" }],
  },
};

/** The naming family of a zoo encoder family label (`EncoderSpec.family`). */
export function namingFamily(familyLabel: string): string {
  const table: Record<string, string> = {
    ResNet: 'resnet', ResNeXt: 'resnet', 'SE-ResNet': 'senet', 'SE-ResNeXt': 'senet', SENet: 'senet', ResNeSt: 'resnest',
    'SK-ResNet': 'sk', 'SK-ResNeXt': 'sk', DenseNet: 'densenet', EfficientNet: 'efficientnet', DPN: 'dpn', RegNetX: 'regnet',
    RegNetY: 'regnet', VGG: 'vgg', MobileNet: 'mobilenet', MobileNetV3: 'mobilenetv3',
  };
  const family = table[familyLabel];
  if (!family) throw new Error(`No PyTorch name mapping for encoder family '${familyLabel}'.`);
  return family;
}

export function familyNaming(family: string): FamilyNaming {
  return FAMILIES[family];
}

/** The encoder-internal module path: without `encoder.` and timm's `model.` wrapper. */
export function innerEncoderPath(modulePath: string): string {
  return modulePath.replace(/^encoder\./, '').replace(/^model\./, '');
}

/**
 * The zoo layer a module path inside the encoder maps to (`existing` resolves the few names that depend on the
 * layer present, e.g. MobileNetV3's bn1: the depthwise BN of a block, or the BN of the last ConvBnAct).
 */
export function encoderLayerName(family: string, inner: string, prefix: string, existing: (layer: string) => boolean, vggIndex?: Map<string, string>): string {
  if (family === 'vgg') return `${prefix}_${vggIndex?.get(inner) ?? inner.replace(/\./g, '_')}`;
  let path = inner;
  for (const [pattern, replacement] of FAMILIES[family].rewrites) path = path.replace(pattern, replacement);
  if (path.includes('@bn1')) {
    const asConvBn = `${prefix}_${path.replace('.@bn1', '_bn').replace(/\./g, '_')}`;
    return existing(asConvBn) ? asConvBn : `${prefix}_${path.replace('.@bn1', '.pw_bn').replace(/\./g, '_')}`;
  }
  return `${prefix}_${path.replace(/\./g, '_')}`;
}

/**
 * VGG's `features.N` numbering: convolutions and batch norms counted in order (`conv0`, `bn0`, …). `modules` are the
 * encoder-internal paths with their kind.
 */
export function vggIndices(modules: { path: string; kind: 'conv' | 'norm' | 'other' }[]): Map<string, string> {
  const indexed = modules
    .map((m) => ({ ...m, index: /^features\.(\d+)$/.exec(m.path)?.[1] }))
    .filter((m) => m.index !== undefined)
    .sort((a, b) => Number(a.index) - Number(b.index));
  const map = new Map<string, string>();
  let conv = 0;
  let norm = 0;
  for (const m of indexed) {
    if (m.kind === 'conv') map.set(m.path, `conv${conv++}`);
    else if (m.kind === 'norm') map.set(m.path, `bn${norm++}`);
  }
  return map;
}

/** Whether an encoder-internal module is one the family lists as unused, and why. */
export function unusedReason(family: string, inner: string): string | undefined {
  return FAMILIES[family].unused.find((u) => u.pattern.test(inner))?.reason;
}
