/**
 * The load planner: which PyTorch tensor fills which zoo variable, with what layout change, decided from names and
 * shapes alone (the safetensors header and the built model), before a single weight is read. A plan with any
 * missing, unexpected or wrong-shaped tensor is refused with every offender named (`planProblems`); modules smp holds
 * but never runs, and classifier heads, are skipped by name and listed.
 *
 * Layouts: convolutions OIHW → HWIO (grouped and depthwise alike: the zoo's kernels are [k, k, in / groups, out]),
 * linear [out, in] → [in, out] (or a 1×1 kernel), norms as they are; the encoder's first convolution of a 3-channel
 * file into a 1-channel model is summed over RGB, as smp's `patch_first_conv` does.
 */
import { encoderLayerName, familyNaming, innerEncoderPath, namingFamily, unusedReason, vggIndices } from './torchNames';

export interface SourceTensor {
  name: string;
  shape: number[];
}

export interface TargetVariable {
  /** `<layer name>/<weight>`, e.g. `encoder_conv1_conv/kernel`. */
  name: string;
  shape: number[];
}

export type Transform = 'copy' | 'oihw' | 'oihwSumRgb' | 'linear';

export interface Assignment {
  source: string;
  target: string;
  transform: Transform;
}

export interface LoadPlan {
  assignments: Assignment[];
  /** Zoo variables no tensor fills. */
  missing: string[];
  /** Tensors with no zoo counterpart (and no known reason to skip them). */
  unexpected: string[];
  wrongShape: { source: string; target: string; sourceShape: number[]; targetShape: number[] }[];
  /** Tensors skipped by name, with the reason (unused modules, stages beyond the depth, heads, counters). */
  skipped: { name: string; reason: string }[];
}

export interface PlanOptions {
  /** `EncoderSpec.family` of the model's encoder. */
  encoderFamily: string;
  /** 'encoder': fill the encoder's variables only; 'model': every variable (a whole smp model). */
  scope: 'encoder' | 'model';
  /** Zoo layers of the same encoder built at full depth: tensors of stages beyond the model's depth are skipped. */
  fullDepthLayers?: ReadonlySet<string>;
  /** The model's architecture (smp's name), for whole-model files. */
  arch?: string;
}

const ENCODER = 'encoder';

/** How a zoo variable's weight name reads a PyTorch leaf, given whether the layer is a convolution/linear. */
function leafTarget(leaf: string, weights: ReadonlySet<string>): string | undefined {
  const hasKernel = weights.has('kernel');
  switch (leaf) {
    case 'weight': return hasKernel ? 'kernel' : 'gamma';
    case 'bias': return hasKernel ? 'bias' : 'beta';
    case 'running_mean': return 'moving_mean';
    case 'running_var': return 'moving_variance';
    default: return undefined;
  }
}

function transformFor(source: number[], target: number[]): Transform | undefined {
  const eq = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  if (source.length === 4 && target.length === 4) {
    const [o, i, h, w] = source;
    if (eq([h, w, i, o], target)) return 'oihw';
    if (i === 3 && eq([h, w, 1, o], target)) return 'oihwSumRgb';
    return undefined;
  }
  if (source.length === 2 && (eq([source[1], source[0]], target) || eq([1, 1, source[1], source[0]], target))) return 'linear';
  return eq(source, target) ? 'copy' : undefined;
}

/**
 * smp's decoders, per architecture: rewrites of the path inside `decoder.` before the generic rule (smp's
 * Conv2dReLU / Conv2dBnAct are Sequential(conv, norm, act): `.0` the conv, `.1` the norm).
 */
type Replacement = string | ((match: string, ...groups: string[]) => string);
const DECODER_REWRITES: Record<string, [RegExp, Replacement][]> = {
  Unet: [[/^center\.(\d)\./, (_m: string, i: string) => `center_conv${Number(i) + 1}.`]],
  UnetPlusPlus: [[/^blocks\.(x_\d+_\d+)\./, '$1.']],
  MAnet: [
    [/^center\.(top|center|bottom|out)_conv$/, 'pab_$1'],
    [/\.hl_conv\.(\d)\./, '.hl$1.'],
    [/\.SE_(ll|hl)\.1$/, '.se_$1_fc1'],
    [/\.SE_(ll|hl)\.3$/, '.se_$1_fc2'],
  ],
  Linknet: [
    [/\.block\.0\.(\d)$/, '.conv1.$1'],
    [/\.block\.1\.0$/, '.transpose'],
    [/\.block\.1\.1$/, '.transpose_bn'],
    [/\.block\.2\.(\d)$/, '.conv2.$1'],
  ],
  FPN: [[/^(p\d)\.skip_conv$/, '$1_skip'], [/^seg_blocks\.(\d)\.block\.(\d)\.block\.(\d)$/, 'seg$1_$2.$3']],
  PSPNet: [
    [/^psp\.blocks\.0\.pool\.1\.0$/, 'psp1_conv'],
    [/^psp\.blocks\.1\.pool\.1\./, 'psp2.'],
    [/^psp\.blocks\.2\.pool\.1\./, 'psp3.'],
    [/^psp\.blocks\.3\.pool\.1\./, 'psp6.'],
  ],
  DeepLabV3: [
    [/^aspp\.convs\.4\.1$/, 'aspp_pooling_conv'],
    [/^aspp\.convs\.4\.2$/, 'aspp_pooling_bn'],
    [/^aspp\.convs\.(\d)\./, 'aspp$1.'],
    [/^conv$/, 'conv_conv'],
    [/^bn$/, 'conv_bn'],
  ],
  DeepLabV3Plus: [
    [/^aspp\.0\.convs\.4\.1$/, 'aspp_pooling_conv'],
    [/^aspp\.0\.convs\.4\.2$/, 'aspp_pooling_bn'],
    [/^aspp\.0\.convs\.0\./, 'aspp0.'],
    [/^aspp\.0\.convs\.(\d)\.0\.0$/, 'aspp$1_depthwise'],
    [/^aspp\.0\.convs\.(\d)\.0\.1$/, 'aspp$1_conv'],
    [/^aspp\.0\.convs\.(\d)\.1$/, 'aspp$1_bn'],
    [/^aspp\.0\.project\./, 'aspp_project.'],
    [/^aspp\.1\.0$/, 'aspp_separable_depthwise'],
    [/^aspp\.1\.1$/, 'aspp_separable_conv'],
    [/^aspp\.2$/, 'aspp_separable_bn'],
    [/^block2\.0\.0$/, 'block2_depthwise'],
    [/^block2\.0\.1$/, 'block2_conv'],
    [/^block2\.1$/, 'block2_bn'],
  ],
  PAN: [
    [/^fpa\.(branch1|down1|down2)\.1\./, 'fpa_$1.'],
    [/^fpa\.mid\.0\./, 'fpa_mid.'],
    [/^fpa\.down3\.(\d)\./, (_m: string, i: string) => `fpa_down3_${Number(i) - 1}.`],
    [/^(gau\d)\.conv1\.1\./, '$1_conv1.'],
  ],
};

/** smp decoders and head: `decoder.*` and `segmentation_head.0` → the zoo's `decoder_*` layers. */
function decoderLayerName(arch: string, modulePath: string, existing: (layer: string) => boolean): string | undefined {
  if (modulePath === 'segmentation_head.0') return 'decoder_head_conv';
  if (!modulePath.startsWith('decoder.')) return undefined;
  let inner = modulePath.slice('decoder.'.length);
  for (const [pattern, replacement] of DECODER_REWRITES[arch] ?? []) inner = inner.replace(pattern, replacement as never);
  const underscored = `decoder_${inner.replace(/\bblocks\.(\d+)/, 'block$1')}`.replace(/\./g, '_');
  const candidates = [
    underscored,
    underscored.replace(/_0$/, '_conv'),
    underscored.replace(/_1$/, '_bn'),
    underscored.replace(/_1$/, '_gn'),
  ];
  return candidates.find(existing);
}

/**
 * Tensors named as the zoo names its variables (`<layer>/<weight>`, HWIO kernels): this project's own models (an
 * `export` package). PyTorch names never hold a `/`.
 */
export function isZooNamed(sources: readonly SourceTensor[]): boolean {
  return sources.length > 0 && sources.every((s) => s.name.includes('/'));
}

/** Zoo-named tensors: matched by name and copied; decoder tensors of an encoder-scope load are skipped. */
function planZooNamed(sources: SourceTensor[], inScope: TargetVariable[], scope: PlanOptions['scope']): LoadPlan {
  const byName = new Map(inScope.map((t) => [t.name, t]));
  const plan: LoadPlan = { assignments: [], missing: [], unexpected: [], wrongShape: [], skipped: [] };
  const filled = new Set<string>();
  for (const s of sources) {
    const target = byName.get(s.name);
    if (!target) {
      if (scope === 'encoder' && !s.name.startsWith(`${ENCODER}_`)) plan.skipped.push({ name: s.name, reason: 'not part of the encoder' });
      else plan.unexpected.push(s.name);
      continue;
    }
    filled.add(target.name);
    const same = s.shape.length === target.shape.length && s.shape.every((d, i) => d === target.shape[i]);
    if (same) plan.assignments.push({ source: s.name, target: target.name, transform: 'copy' });
    else plan.wrongShape.push({ source: s.name, target: target.name, sourceShape: s.shape, targetShape: target.shape });
  }
  plan.missing = inScope.filter((t) => !filled.has(t.name)).map((t) => t.name);
  return plan;
}

/** Plans filling `targets` from `sources`; see `LoadPlan`. */
export function planLoad(sources: SourceTensor[], targets: TargetVariable[], options: PlanOptions): LoadPlan {
  if (isZooNamed(sources)) {
    return planZooNamed(sources, targets.filter((t) => options.scope === 'model' || t.name.startsWith(`${ENCODER}_`)), options.scope);
  }
  const family = namingFamily(options.encoderFamily);
  const naming = familyNaming(family);
  const inScope = targets.filter((t) => options.scope === 'model' || t.name.startsWith(`${ENCODER}_`));
  const byName = new Map(inScope.map((t) => [t.name, t]));
  const layerWeights = new Map<string, Set<string>>();
  for (const t of inScope) {
    const cut = t.name.lastIndexOf('/');
    const layer = t.name.slice(0, cut);
    if (!layerWeights.has(layer)) layerWeights.set(layer, new Set());
    layerWeights.get(layer)!.add(t.name.slice(cut + 1));
  }
  const existing = (layer: string) => layerWeights.has(layer);

  // An encoder-only file (timm / smp hub) has no `encoder.` prefix; a whole smp model has encoder., decoder., head.
  const wholeModel = sources.some((s) => s.name.startsWith(`${ENCODER}.`));
  const named = sources.map((s) => ({ ...s, full: wholeModel ? s.name : `${ENCODER}.${s.name}` }));

  const moduleOf = (full: string) => full.slice(0, full.lastIndexOf('.'));
  const leafOf = (full: string) => full.slice(full.lastIndexOf('.') + 1);
  let vggIndex: Map<string, string> | undefined;
  if (family === 'vgg') {
    const kinds = new Map<string, 'conv' | 'norm' | 'other'>();
    for (const s of named) {
      if (!s.full.startsWith(`${ENCODER}.`)) continue;
      const inner = innerEncoderPath(moduleOf(s.full));
      if (leafOf(s.full) === 'running_mean') kinds.set(inner, 'norm');
      else if (leafOf(s.full) === 'weight' && s.shape.length === 4) kinds.set(inner, 'conv');
      else if (!kinds.has(inner)) kinds.set(inner, 'other');
    }
    vggIndex = vggIndices([...kinds].map(([path, kind]) => ({ path, kind })));
  }

  const plan: LoadPlan = { assignments: [], missing: [], unexpected: [], wrongShape: [], skipped: [] };
  const filled = new Set<string>();
  for (const s of named) {
    const leaf = leafOf(s.full);
    if (leaf === 'num_batches_tracked') {
      plan.skipped.push({ name: s.name, reason: 'batch-norm counter (not a weight)' });
      continue;
    }
    const modulePath = moduleOf(s.full);
    let layer: string | undefined;
    if (modulePath.startsWith(`${ENCODER}.`)) {
      const inner = innerEncoderPath(modulePath);
      const reason = unusedReason(family, inner);
      if (reason) {
        plan.skipped.push({ name: s.name, reason });
        continue;
      }
      layer = encoderLayerName(family, inner, ENCODER, existing, vggIndex);
      if (!existing(layer) && options.fullDepthLayers?.has(layer)) {
        plan.skipped.push({ name: s.name, reason: 'encoder stage beyond the model\'s depth' });
        continue;
      }
    } else if (options.scope === 'encoder') {
      plan.skipped.push({ name: s.name, reason: 'not part of the encoder' });
      continue;
    } else {
      layer = decoderLayerName(options.arch ?? '', modulePath, existing);
      if (!layer && options.arch === 'UnetPlusPlus' && /^decoder\.center\./.test(modulePath)) {
        plan.skipped.push({ name: s.name, reason: 'Unet++ center block, which smp holds but its forward skips' });
        continue;
      }
    }
    const weight = layer && existing(layer) ? leafTarget(leaf, layerWeights.get(layer)!) : undefined;
    const target = weight ? byName.get(`${layer}/${weight}`) : undefined;
    if (!target) {
      plan.unexpected.push(s.name);
      continue;
    }
    if (filled.has(target.name)) {
      plan.unexpected.push(s.name);
      continue;
    }
    const transform = transformFor(s.shape, target.shape);
    if (!transform) {
      plan.wrongShape.push({ source: s.name, target: target.name, sourceShape: s.shape, targetShape: target.shape });
      filled.add(target.name);
      continue;
    }
    filled.add(target.name);
    plan.assignments.push({ source: s.name, target: target.name, transform });
  }
  plan.missing = inScope.filter((t) => !filled.has(t.name)).map((t) => t.name);
  return plan;
}

/** Every problem of a plan, one line each (empty: the plan can be loaded). */
export function planProblems(plan: LoadPlan): string[] {
  return [
    ...plan.missing.map((n) => `missing: the model's ${n} has no tensor in the file`),
    ...plan.unexpected.map((n) => `unexpected: ${n} has no place in the model`),
    ...plan.wrongShape.map((w) => `wrong shape: ${w.source} is [${w.sourceShape.join(', ')}], ${w.target} needs [${w.targetShape.join(', ')}]`),
  ];
}
