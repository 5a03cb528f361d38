/**
 * Synthetic apical two-chamber echo frames with exact masks, for the demo, tests and benchmarks when no real
 * data is at hand. Each video is one "patient": an ultrasound sector on black, a left ventricle whose cavity
 * (dark) and wall (bright) beat over a cardiac cycle, an atrium below it, multiplicative speckle, and per-video
 * depth, gain, attenuation and noise. Neighbouring frames of a video are near-duplicates (same speckle field,
 * slightly moved heart), the redundancy active learning should exploit.
 *
 * Labels follow CAMUS: 0 background, 1 LV cavity, 2 LV wall (myocardium), 3 left atrium. `mask` is label 1.
 * Everything is drawn from the seed; the same options give byte-identical frames.
 *
 * Heterogeneity (`heterogeneity`): a minority of videos that look different, the hard cases a good selection
 * strategy should find and a per-frame top-K tends to miss. Each kind hits round(proportion × videos) videos,
 * chosen by a seeded permutation per kind (kinds are independent, so a video can have two):
 * - `depth` (default 0.10): imaging depth 105–120 mm (zoomed in, probe closer; the atrium may leave the fan) or
 *   215–250 mm (zoomed out, a small heart) instead of 140–180 mm;
 * - `gain` (0.10): overall gain 0.40–0.55 (dark) or 1.6–2.0 (bright, walls saturate) instead of 0.8–1.2;
 * - `foreshortened` (0.10): a foreshortened, off-axis LV — long axis ×0.60–0.75 (short, round), tilted 14–22°
 *   instead of ±6°, 8–16 mm deeper;
 * - `dropout` (0.15): acoustic shadows — one beam wedge (6–12°) over the LV's side wall and, half the time, a
 *   second one anywhere, where the echo falls to 8–25 % from some depth on;
 * - `confusion` (0.10): other-chamber confusion — a second chamber beside the LV (a dark cavity with a bright,
 *   beating wall, 55–75 % of the LV's width) that looks like the LV but is background (label 0).
 * Masks stay exact: they are the LV cavity contour whatever is drawn. Without `heterogeneity` (or with every
 * proportion 0) the output is byte-identical to earlier versions; with it, a video that no kind hits is
 * byte-identical to the same video without it. `heterogeneity: {}` uses the defaults above (DEFAULT_HETEROGENEITY).
 *
 * Demo presets (scripts/demo.ts): `smoke` (6 videos) keeps heterogeneity off, so CI's dataset stays the same and
 * six videos leave no room for a minority; `default` (16 videos) and `large` (40 videos: 4 depth, 4 gain,
 * 4 foreshortened, 6 dropout, 4 confusion) use the defaults.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { writeMetaImage, type MetaImageToWrite } from './formats/metaImage';
import { writeNifti } from './formats/nifti';
import { Random } from './random';

/** Kinds of atypical video (module header). */
export const HETEROGENEITY_KINDS = ['depth', 'gain', 'foreshortened', 'dropout', 'confusion'] as const;
export type HeterogeneityKind = (typeof HETEROGENEITY_KINDS)[number];
/** Share of the videos (0–1) each kind hits; a kind left out takes its default. */
export type HeterogeneityOptions = Partial<Record<HeterogeneityKind, number>>;

/** The proportions `heterogeneity: {}` uses. */
export const DEFAULT_HETEROGENEITY: Readonly<Record<HeterogeneityKind, number>> = {
  depth: 0.1, gain: 0.1, foreshortened: 0.1, dropout: 0.15, confusion: 0.1,
};

export interface SyntheticOptions {
  videos: number;
  framesPerVideo: number;
  /** [height, width] or one number for a square (default 256). */
  size?: number | [number, number];
  seed?: number;
  /** Atypical videos (module header); absent: every video typical, as before. */
  heterogeneity?: HeterogeneityOptions;
}

/** The fan: apex at (apexX, apexY), opening downwards; angles are measured from the +y (down) axis. */
export interface SectorGeometry {
  apexX: number;
  apexY: number;
  radius: number;
  halfAngle: number;
}

/**
 * A closed shape around (cx, cy): radius(θ) = ellipse(rx, ry)(θ) · (1 + Σ a_k cos(kθ + φ_k)), with θ measured
 * in the shape's frame (rotated by `rotation` radians), k = 2, 3, ...
 */
export interface Contour {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  rotation: number;
  harmonics: Array<[amplitude: number, phase: number]>;
}

export interface FrameGeometry {
  sector: SectorGeometry;
  cavity: Contour;
  /** Wall thickness in pixels, added to the cavity radius (except at the open base towards the atrium). */
  wallThickness: number;
  atrium: Contour;
  /** Physical pixel size (mm), equal in both directions. */
  mmPerPixel: number;
  /** `dropout` videos: the shadowed beam wedges. */
  shadows?: Shadow[];
  /** `confusion` videos: the second chamber (drawn as background, label 0). */
  decoy?: { cavity: Contour; wallThickness: number };
}

/** An acoustic shadow: the beams within `halfWidth` of `angle` (radians from the +y axis, as the sector's) keep `strength` of their echo beyond `startDepth` (share of the sector radius). */
export interface Shadow {
  angle: number;
  halfWidth: number;
  startDepth: number;
  strength: number;
}

export interface SyntheticFrame {
  /** `video003_frame012` */
  id: string;
  /** `video003`: the split unit. */
  group: string;
  video: number;
  frame: number;
  height: number;
  width: number;
  /** Row-major grey values in [0, 1]; exactly 0 outside the sector. */
  image: Float32Array;
  /** 0 background, 1 LV cavity, 2 LV wall, 3 left atrium. */
  labels: Uint8Array;
  /** LV cavity 0/1. */
  mask: Uint8Array;
  /** Position in the cardiac cycle: 0 end-diastole, 0.5 end-systole. */
  phase: number;
  geometry: FrameGeometry;
  /** The atypical kinds this frame's video has (empty for a typical video). */
  variants: HeterogeneityKind[];
}

export function contourRadius(contour: Contour, angle: number): number {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  let radius = (contour.rx * contour.ry) / Math.sqrt((contour.ry * c) ** 2 + (contour.rx * s) ** 2);
  let modulation = 1;
  contour.harmonics.forEach(([amplitude, phase], i) => {
    modulation += amplitude * Math.cos((i + 2) * angle + phase);
  });
  radius *= modulation;
  return radius;
}

/** Polar position of an image point in a contour's frame. */
function toContourFrame(contour: Contour, x: number, y: number): { distance: number; angle: number } {
  const dx = x - contour.cx;
  const dy = y - contour.cy;
  const cos = Math.cos(-contour.rotation);
  const sin = Math.sin(-contour.rotation);
  const u = dx * cos - dy * sin;
  const v = dx * sin + dy * cos;
  return { distance: Math.hypot(u, v), angle: Math.atan2(v, u) };
}

export function insideSector(sector: SectorGeometry, x: number, y: number): boolean {
  const dx = x - sector.apexX;
  const dy = y - sector.apexY;
  return dy >= 0 && Math.hypot(dx, dy) <= sector.radius && Math.abs(Math.atan2(dx, dy)) <= sector.halfAngle;
}

interface VideoParameters {
  sector: SectorGeometry;
  mmPerPixel: number;
  apexDistance: number;
  cavityRxED: number;
  cavityRyED: number;
  rotation: number;
  harmonics: Array<[number, number]>;
  shortAxisShortening: number;
  longAxisShortening: number;
  wallThicknessED: number;
  atriumRx: number;
  atriumRy: number;
  phase0: number;
  cyclesPerFrame: number;
  tissueLevel: number;
  gain: number;
  attenuation: number;
  speckleStrength: number;
  speckleRenewal: number;
  noiseLevel: number;
  textureWaves: Array<[kx: number, ky: number, phase: number]>;
  shadows?: Shadow[];
  decoy?: DecoyParameters;
}

/** The second chamber of a `confusion` video, at end-diastole, in pixels. */
interface DecoyParameters {
  cx: number;
  cy: number;
  rxED: number;
  ryED: number;
  rotation: number;
  wallThicknessED: number;
  wallEcho: number;
}

/**
 * What an atypical video changes, drawn from a stream of its own per kind, so a video's typical draws (and so
 * everything a kind does not touch) stay the same whichever kinds it has.
 */
interface VariantDraws {
  depthMm?: number;
  apexDistanceMm?: number;
  gain?: number;
  longAxisFactor?: number;
  rotationDeg?: number;
  extraApexMm?: number;
  shadows?: { side: number; halfWidthDeg: number; startDepth: number; strength: number; second?: { position: number; halfWidthDeg: number; startDepth: number; strength: number } };
  decoy?: { side: number; widthFactor: number; lengthFactor: number; gapMm: number; depthShiftMm: number; tiltDeg: number; wallFactor: number; wallEcho: number };
}

const sign = (rng: Random) => (rng.next() < 0.5 ? -1 : 1);

function drawVariants(seed: number, video: number, kinds: readonly HeterogeneityKind[]): VariantDraws {
  const draws: VariantDraws = {};
  for (const kind of kinds) {
    const rng = new Random(seed, `synthetic-video-${video}-${kind}`);
    if (kind === 'depth') {
      if (rng.next() < 0.5) {
        draws.depthMm = rng.uniform(105, 120);
        draws.apexDistanceMm = rng.uniform(12, 18);
      } else {
        draws.depthMm = rng.uniform(215, 250);
      }
    } else if (kind === 'gain') {
      draws.gain = rng.next() < 0.5 ? rng.uniform(0.4, 0.55) : rng.uniform(1.6, 2.0);
    } else if (kind === 'foreshortened') {
      draws.longAxisFactor = rng.uniform(0.6, 0.75);
      draws.rotationDeg = sign(rng) * rng.uniform(14, 22);
      draws.extraApexMm = rng.uniform(8, 16);
    } else if (kind === 'dropout') {
      const wedge = () => ({ halfWidthDeg: rng.uniform(3, 6), startDepth: rng.uniform(0.05, 0.3), strength: rng.uniform(0.08, 0.25) });
      const first = { side: sign(rng), ...wedge() };
      draws.shadows = rng.next() < 0.5 ? { ...first, second: { position: rng.uniform(-0.85, 0.85), ...wedge() } } : first;
    } else {
      draws.decoy = {
        side: sign(rng), widthFactor: rng.uniform(0.5, 0.65), lengthFactor: rng.uniform(0.75, 0.95), gapMm: rng.uniform(1, 3),
        depthShiftMm: rng.uniform(15, 28), tiltDeg: rng.uniform(5, 15), wallFactor: rng.uniform(0.8, 1.1), wallEcho: rng.uniform(0.7, 1),
      };
    }
  }
  return draws;
}

function checkHeterogeneity(options: SyntheticOptions): Record<HeterogeneityKind, number> | undefined {
  const given = options.heterogeneity;
  if (given === undefined) return undefined;
  const proportions = { ...DEFAULT_HETEROGENEITY };
  for (const [kind, value] of Object.entries(given)) {
    if (!(HETEROGENEITY_KINDS as readonly string[]).includes(kind)) {
      throw new Error(`Unknown heterogeneity kind '${kind}'; use ${HETEROGENEITY_KINDS.join(', ')}.`);
    }
    if (value === undefined) continue;
    if (!(Number.isFinite(value) && value >= 0 && value <= 1)) throw new Error(`Heterogeneity '${kind}' must be a proportion in [0, 1], got ${value}.`);
    proportions[kind as HeterogeneityKind] = value;
  }
  return proportions;
}

/**
 * Which videos each kind hits: round(proportion × videos) of them, the first of a seeded permutation per kind.
 * Empty lists without `heterogeneity`.
 */
export function heterogeneousVideos(options: SyntheticOptions): Record<HeterogeneityKind, number[]> {
  const proportions = checkHeterogeneity(options);
  const out = Object.fromEntries(HETEROGENEITY_KINDS.map((kind) => [kind, [] as number[]])) as Record<HeterogeneityKind, number[]>;
  if (!proportions) return out;
  for (const kind of HETEROGENEITY_KINDS) {
    const count = Math.round(proportions[kind] * options.videos);
    if (count === 0) continue;
    const order = new Random(options.seed ?? 0, `synthetic-heterogeneity-${kind}`).permutation(options.videos);
    out[kind] = order.slice(0, count).sort((a, b) => a - b);
  }
  return out;
}

/** The atypical kinds of one video (0-based), in HETEROGENEITY_KINDS order. */
export function heterogeneityOf(options: SyntheticOptions, video: number): HeterogeneityKind[] {
  const hit = heterogeneousVideos(options);
  return HETEROGENEITY_KINDS.filter((kind) => hit[kind].includes(video));
}

/** An atypical value if there is one, else the typical draw (which is made either way). */
const overridden = (typical: number, atypical: number | undefined) => atypical ?? typical;

function videoParameters(rng: Random, height: number, width: number, variant: VariantDraws = {}): VideoParameters {
  const halfAngle = (rng.uniform(37, 42) * Math.PI) / 180;
  const apexY = 0.02 * height;
  const radius = Math.min(0.96 * height, (0.49 * width) / Math.sin(halfAngle));
  // Every typical draw happens, overridden or not, so the random stream (and all else) stays the same.
  const depthMm = overridden(rng.uniform(140, 180), variant.depthMm);
  const mmPerPixel = depthMm / radius;
  const typicalRyMm = rng.uniform(36, 42);
  const cavityRyED = (variant.longAxisFactor === undefined ? typicalRyMm : typicalRyMm * variant.longAxisFactor) / mmPerPixel;
  const cavityRxED = rng.uniform(20, 24) / mmPerPixel;
  const rotation = (overridden(rng.uniform(-6, 6), variant.rotationDeg) * Math.PI) / 180;
  const harmonics: Array<[number, number]> = [
    [rng.uniform(0, 0.04), rng.uniform(0, 2 * Math.PI)],
    [rng.uniform(0, 0.03), rng.uniform(0, 2 * Math.PI)],
  ];
  const apexMm = overridden(rng.uniform(20, 28), variant.apexDistanceMm);
  const params: VideoParameters = {
    sector: { apexX: width / 2, apexY, radius, halfAngle },
    mmPerPixel,
    apexDistance: (variant.extraApexMm === undefined ? apexMm : apexMm + variant.extraApexMm) / mmPerPixel,
    cavityRxED,
    cavityRyED,
    rotation,
    harmonics,
    shortAxisShortening: rng.uniform(0.2, 0.32),
    longAxisShortening: rng.uniform(0.08, 0.15),
    wallThicknessED: rng.uniform(8, 11) / mmPerPixel,
    atriumRx: rng.uniform(16, 21) / mmPerPixel,
    atriumRy: rng.uniform(17, 22) / mmPerPixel,
    phase0: rng.next(),
    cyclesPerFrame: 1 / rng.uniform(14, 24),
    tissueLevel: rng.uniform(0.22, 0.34),
    gain: overridden(rng.uniform(0.8, 1.2), variant.gain),
    attenuation: rng.uniform(0.2, 0.9),
    speckleStrength: rng.uniform(0.45, 0.85),
    speckleRenewal: rng.uniform(0.2, 0.4),
    noiseLevel: rng.uniform(0.01, 0.04),
    textureWaves: Array.from({ length: 3 }, () => [rng.uniform(-0.08, 0.08), rng.uniform(-0.08, 0.08), rng.uniform(0, 2 * Math.PI)]),
  };
  // The whole end-diastolic cavity must lie inside the fan: push it deeper until it does.
  for (let attempt = 0; attempt < 50 && !cavityFits(params); attempt++) params.apexDistance += 1;
  if (variant.shadows) params.shadows = shadowsFor(params, variant.shadows);
  if (variant.decoy) params.decoy = decoyFor(params, variant.decoy);
  return params;
}

const degrees = (d: number) => (d * Math.PI) / 180;

/** The first wedge covers the LV's side wall at end-diastole; the second, if any, lies anywhere in the fan. */
function shadowsFor(params: VideoParameters, draw: NonNullable<VariantDraws['shadows']>): Shadow[] {
  const { cavity, sector, wallThickness } = geometryAt(params, 0);
  const reach = cavity.rx + wallThickness / 2;
  const wallX = cavity.cx + draw.side * reach * Math.cos(cavity.rotation);
  const wallY = cavity.cy + draw.side * reach * Math.sin(cavity.rotation);
  const shadows: Shadow[] = [{
    angle: Math.atan2(wallX - sector.apexX, wallY - sector.apexY), halfWidth: degrees(draw.halfWidthDeg), startDepth: draw.startDepth, strength: draw.strength,
  }];
  if (draw.second) {
    const { position, halfWidthDeg, startDepth, strength } = draw.second;
    shadows.push({ angle: position * sector.halfAngle, halfWidth: degrees(halfWidthDeg), startDepth, strength });
  }
  return shadows;
}

/** A chamber beside the LV along its short axis, a little deeper, tilted away from it. */
function decoyFor(params: VideoParameters, draw: NonNullable<VariantDraws['decoy']>): DecoyParameters {
  const { cavity, wallThickness } = geometryAt(params, 0);
  const rxED = cavity.rx * draw.widthFactor;
  const wallThicknessED = wallThickness * draw.wallFactor;
  const offset = cavity.rx + wallThickness + draw.gapMm / params.mmPerPixel + wallThicknessED + rxED;
  const depthShift = draw.depthShiftMm / params.mmPerPixel;
  const [shortX, shortY] = [Math.cos(cavity.rotation), Math.sin(cavity.rotation)];
  const [longX, longY] = [-Math.sin(cavity.rotation), Math.cos(cavity.rotation)];
  return {
    cx: cavity.cx + draw.side * offset * shortX + depthShift * longX,
    cy: cavity.cy + draw.side * offset * shortY + depthShift * longY,
    rxED,
    ryED: cavity.ry * draw.lengthFactor,
    rotation: cavity.rotation + draw.side * degrees(draw.tiltDeg),
    wallThicknessED,
    wallEcho: draw.wallEcho,
  };
}

/** The remaining share of echo at a beam angle and depth (1 outside every shadow), with soft edges. */
function shadowFactor(shadows: readonly Shadow[], beamAngle: number, depth: number): number {
  let factor = 1;
  for (const s of shadows) {
    const off = Math.abs(beamAngle - s.angle);
    const edge = degrees(2);
    const across = off <= s.halfWidth ? 1 : off >= s.halfWidth + edge ? 0 : Math.cos(((off - s.halfWidth) / edge) * (Math.PI / 2)) ** 2;
    const along = Math.min(1, Math.max(0, (depth - s.startDepth) / 0.05));
    factor *= 1 - (1 - s.strength) * across * along;
  }
  return factor;
}

function geometryAt(params: VideoParameters, contraction: number): FrameGeometry {
  const rx = params.cavityRxED * (1 - params.shortAxisShortening * contraction);
  const ry = params.cavityRyED * (1 - params.longAxisShortening * contraction);
  // The apex stays put while the base moves towards it; the long axis points down the (tilted) beam.
  const axisX = -Math.sin(params.rotation);
  const axisY = Math.cos(params.rotation);
  const apexX = params.sector.apexX + params.apexDistance * axisX;
  const apexY = params.sector.apexY + params.apexDistance * axisY;
  const cavity: Contour = { cx: apexX + ry * axisX, cy: apexY + ry * axisY, rx, ry, rotation: params.rotation, harmonics: params.harmonics };
  const wallThickness = params.wallThicknessED * (1 + 0.35 * contraction);
  const atriumScale = 1 + 0.12 * contraction;
  const atriumRy = params.atriumRy * atriumScale;
  const atriumDistance = ry + 0.35 * wallThickness + atriumRy;
  const atrium: Contour = {
    cx: cavity.cx + atriumDistance * axisX,
    cy: cavity.cy + atriumDistance * axisY,
    rx: params.atriumRx * atriumScale,
    ry: atriumRy,
    rotation: params.rotation,
    harmonics: [],
  };
  const geometry: FrameGeometry = { sector: params.sector, cavity, wallThickness, atrium, mmPerPixel: params.mmPerPixel };
  if (params.shadows) geometry.shadows = params.shadows;
  if (params.decoy) {
    const d = params.decoy;
    geometry.decoy = {
      cavity: { cx: d.cx, cy: d.cy, rx: d.rxED * (1 - params.shortAxisShortening * contraction), ry: d.ryED * (1 - params.longAxisShortening * contraction),
        rotation: d.rotation, harmonics: params.harmonics },
      wallThickness: d.wallThicknessED * (1 + 0.35 * contraction),
    };
  }
  return geometry;
}

function cavityFits(params: VideoParameters): boolean {
  const { cavity, sector } = geometryAt(params, 0);
  for (let i = 0; i < 128; i++) {
    const angle = (2 * Math.PI * i) / 128;
    const r = contourRadius(cavity, angle) + 1;
    const x = cavity.cx + r * Math.cos(angle + cavity.rotation);
    const y = cavity.cy + r * Math.sin(angle + cavity.rotation);
    if (!insideSector({ ...sector, radius: sector.radius - 2, halfAngle: sector.halfAngle - 0.02 }, x, y)) return false;
  }
  return true;
}

/** A Rayleigh-distributed speckle field is |z| for complex Gaussian z; we keep z's two parts per pixel. */
function gaussianField(rng: Random, pixels: number): Float32Array {
  const field = new Float32Array(2 * pixels);
  for (let i = 0; i < field.length; i++) field[i] = rng.normal();
  return field;
}

const basalOpening = (38 * Math.PI) / 180;
const echogenicity = { cavity: 0.035, wall: 0.8, atrium: 0.045, atriumWall: 0.55 };

/** Where a point lies in a chamber drawn like the LV: its cavity, its wall (open at the base), or outside. */
function chamberPart(contour: Contour, wallThickness: number, x: number, y: number): 'cavity' | 'wall' | 'outside' {
  const at = toContourFrame(contour, x, y);
  const radius = contourRadius(contour, at.angle);
  if (at.distance < radius) return 'cavity';
  if (at.distance < radius + wallThickness && Math.abs(at.angle - Math.PI / 2) >= basalOpening) return 'wall';
  return 'outside';
}

function renderFrame(params: VideoParameters, geometry: FrameGeometry, videoSpeckle: Float32Array, rng: Random, height: number, width: number) {
  const pixels = height * width;
  const image = new Float32Array(pixels);
  const labels = new Uint8Array(pixels);
  const { sector, cavity, atrium, wallThickness, shadows, decoy } = geometry;
  const renewal = params.speckleRenewal;
  const keep = Math.sqrt(1 - renewal * renewal);
  const meanRayleigh = Math.sqrt(Math.PI / 2);
  const atriumWall = 0.6 * wallThickness;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      // The per-frame draws happen for every pixel, so the random stream does not depend on the geometry.
      const renewRe = rng.normal();
      const renewIm = rng.normal();
      const noise = rng.normal();
      const px = x + 0.5;
      const py = y + 0.5;
      if (!insideSector(sector, px, py)) continue;
      const lv = toContourFrame(cavity, px, py);
      const lvRadius = contourRadius(cavity, lv.angle);
      // Angle π/2 in the contour frame points down the long axis, towards the base and the atrium.
      const atBase = Math.abs(lv.angle - Math.PI / 2) < basalOpening;
      let echo: number;
      if (lv.distance < lvRadius) {
        labels[i] = 1;
        echo = echogenicity.cavity;
      } else if (lv.distance < lvRadius + wallThickness && !atBase) {
        labels[i] = 2;
        echo = echogenicity.wall;
      } else {
        const la = toContourFrame(atrium, px, py);
        const laRadius = contourRadius(atrium, la.angle);
        if (la.distance < laRadius) {
          labels[i] = 3;
          echo = echogenicity.atrium;
        } else if (la.distance < laRadius + atriumWall) {
          echo = echogenicity.atriumWall;
        } else {
          // A `confusion` video's second chamber replaces tissue only, so the labelled structures stay exact.
          const chamber = decoy ? chamberPart(decoy.cavity, decoy.wallThickness, px, py) : 'outside';
          if (chamber === 'cavity') {
            echo = echogenicity.cavity;
          } else if (chamber === 'wall') {
            echo = echogenicity.wall * params.decoy!.wallEcho;
          } else {
            let texture = 1;
            for (const [kx, ky, phase] of params.textureWaves) texture += 0.12 * Math.sin(kx * px + ky * py + phase);
            echo = params.tissueLevel * texture;
          }
        }
      }
      const depth = Math.hypot(px - sector.apexX, py - sector.apexY) / sector.radius;
      // Near-field clutter brightens the first centimetres below the probe, cavity included.
      const clutter = 0.12 * Math.exp(-depth / 0.08);
      const re = keep * videoSpeckle[2 * i] + renewal * renewRe;
      const im = keep * videoSpeckle[2 * i + 1] + renewal * renewIm;
      const speckle = Math.pow(Math.hypot(re, im) / meanRayleigh, params.speckleStrength);
      const lit = params.gain * Math.exp(-params.attenuation * depth) * (echo + clutter) * speckle;
      const shaded = shadows ? lit * shadowFactor(shadows, Math.atan2(px - sector.apexX, py - sector.apexY), depth) : lit;
      const value = shaded + params.noiseLevel * Math.abs(noise);
      image[i] = value < 0 ? 0 : value > 1 ? 1 : value;
    }
  }
  return { image, labels };
}

function normaliseSize(size: SyntheticOptions['size']): [number, number] {
  const [height, width] = typeof size === 'number' ? [size, size] : size ?? [256, 256];
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 16 || width < 16) {
    throw new Error(`Synthetic frame size ${height}×${width} is too small or not whole pixels; use at least 16×16.`);
  }
  return [height, width];
}

function checkOptions(options: SyntheticOptions): [number, number] {
  for (const [name, value] of [['videos', options.videos], ['framesPerVideo', options.framesPerVideo]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`Synthetic ${name} must be a positive integer, got ${value}.`);
  }
  checkHeterogeneity(options);
  return normaliseSize(options.size);
}

/** The frames of one video (0-based); the same as that video's frames from generateSyntheticEcho. */
export function generateSyntheticVideo(options: SyntheticOptions, video: number): SyntheticFrame[] {
  const [height, width] = checkOptions(options);
  const variants = heterogeneityOf(options, video);
  const rng = new Random(options.seed ?? 0, `synthetic-video-${video}`);
  const params = videoParameters(rng, height, width, drawVariants(options.seed ?? 0, video, variants));
  const videoSpeckle = gaussianField(rng, height * width);
  const frames: SyntheticFrame[] = [];
  for (let frame = 0; frame < options.framesPerVideo; frame++) {
    const phase = (params.phase0 + frame * params.cyclesPerFrame) % 1;
    const contraction = 0.5 * (1 - Math.cos(2 * Math.PI * phase));
    const geometry = geometryAt(params, contraction);
    const { image, labels } = renderFrame(params, geometry, videoSpeckle, rng, height, width);
    const mask = new Uint8Array(labels.length);
    for (let i = 0; i < labels.length; i++) mask[i] = labels[i] === 1 ? 1 : 0;
    const group = `video${String(video).padStart(3, '0')}`;
    frames.push({ id: `${group}_frame${String(frame).padStart(3, '0')}`, group, video, frame, height, width, image, labels, mask, phase, geometry, variants });
  }
  return frames;
}

/** Generates `videos × framesPerVideo` frames, video by video (for large sets, call generateSyntheticVideo per video). */
export function generateSyntheticEcho(options: SyntheticOptions): SyntheticFrame[] {
  checkOptions(options);
  const frames: SyntheticFrame[] = [];
  for (let video = 0; video < options.videos; video++) frames.push(...generateSyntheticVideo(options, video));
  return frames;
}

function groupByVideo(frames: readonly SyntheticFrame[]): SyntheticFrame[][] {
  const videos = new Map<number, SyntheticFrame[]>();
  for (const frame of frames) {
    const list = videos.get(frame.video) ?? [];
    list.push(frame);
    videos.set(frame.video, list);
  }
  return [...videos.keys()].sort((a, b) => a - b).map((v) => videos.get(v)!.sort((a, b) => a.frame - b.frame));
}

function countOnes(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  return n;
}

export type PairImageFormat = 'png' | 'png16' | 'jpeg' | 'tiff' | 'tiff16' | 'rgb-png';
export type PairMaskFormat = '0-255' | '0-1' | 'labels';

export interface FolderOfPairsWriteOptions {
  imageFormat?: PairImageFormat;
  /** '0-255' (default) and '0-1' binary LV cavity, or 'labels' (0–3, CAMUS numbering). */
  maskFormat?: PairMaskFormat;
}

const pairExtension: Record<PairImageFormat, string> = { png: 'png', png16: 'png', jpeg: 'jpg', tiff: 'tif', tiff16: 'tif', 'rgb-png': 'png' };

export async function encodeSyntheticImage(frame: SyntheticFrame, format: PairImageFormat): Promise<Buffer> {
  const { width, height, image } = frame;
  if (format === 'png16' || format === 'tiff16') {
    const grey16 = new Uint16Array(image.length);
    for (let i = 0; i < image.length; i++) grey16[i] = Math.round(image[i] * 65535);
    const input16 = sharp(grey16, { raw: { width, height, channels: 1 } }).toColourspace('grey16');
    return format === 'png16' ? input16.png().toBuffer() : input16.tiff({ compression: 'lzw' }).toBuffer();
  }
  const channels = format === 'rgb-png' ? 3 : 1;
  const grey = new Uint8Array(image.length * channels);
  for (let i = 0; i < image.length; i++) grey.fill(Math.round(image[i] * 255), i * channels, (i + 1) * channels);
  const input = sharp(grey, { raw: { width, height, channels } });
  if (format === 'jpeg') return input.jpeg({ quality: 95 }).toBuffer();
  if (format === 'tiff') return input.tiff({ compression: 'lzw' }).toBuffer();
  return input.png().toBuffer();
}

export async function encodeSyntheticMask(frame: SyntheticFrame, format: PairMaskFormat): Promise<Buffer> {
  const values = new Uint8Array(frame.labels.length);
  for (let i = 0; i < values.length; i++) {
    values[i] = format === 'labels' ? frame.labels[i] : frame.mask[i] * (format === '0-255' ? 255 : 1);
  }
  return sharp(values, { raw: { width: frame.width, height: frame.height, channels: 1 } }).png().toBuffer();
}

/**
 * Writes `<id>.<ext>` images and `<id>_mask.png` masks (e.g. `video003_frame012.png`,
 * `video003_frame012_mask.png`) into `dir`; returns the written paths.
 */
export async function writeFolderOfPairs(dir: string, frames: readonly SyntheticFrame[], options: FolderOfPairsWriteOptions = {}): Promise<string[]> {
  const imageFormat = options.imageFormat ?? 'png';
  const maskFormat = options.maskFormat ?? '0-255';
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const frame of frames) {
    const imagePath = path.join(dir, `${frame.id}.${pairExtension[imageFormat]}`);
    const maskPath = path.join(dir, `${frame.id}_mask.png`);
    await writeFile(imagePath, await encodeSyntheticImage(frame, imageFormat));
    await writeFile(maskPath, await encodeSyntheticMask(frame, maskFormat));
    written.push(imagePath, maskPath);
  }
  return written;
}

export interface CamusWriteOptions {
  /** 'mhd': original release (`training/patientXXXX/*.mhd` + `.raw`); 'nifti': newer release (`database_nifti/…/*.nii.gz`). */
  format?: 'mhd' | 'nifti';
  /** MetaImage only: zlib-compressed `.zraw` data (CompressedData = True). */
  compressed?: boolean;
  /** MetaImage only: element type of the images (masks are always MET_UCHAR). */
  elementType?: MetaImageToWrite['elementType'];
  /** Views to write; '4CH' is the same synthetic video mirrored left–right. Default ['2CH']. */
  views?: Array<'2CH' | '4CH'>;
  /** NIfTI only: also write `database_split/subgroup_{training,validation,testing}.txt`. */
  splitLists?: boolean;
}

export interface CamusWriteResult {
  patients: string[];
  files: string[];
  /** Patients listed in `subgroup_testing.txt` (when splitLists). */
  testPatients: string[];
}

function mirror(values: ArrayLike<number>, width: number, height: number, frames: number): number[] {
  const out = new Array<number>(values.length);
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const at = (f * height + y) * width;
        out[at + x] = values[at + width - 1 - x];
      }
    }
  }
  return out;
}

const elementScale: Record<MetaImageToWrite['elementType'], number> = { MET_UCHAR: 255, MET_USHORT: 65535, MET_SHORT: 32767, MET_FLOAT: 1 };

/**
 * Writes the frames as a CAMUS-style folder, one patient per video: for each view ED and ES images with
 * their `_gt` label maps (0–3), a sequence from ED to ES (`_sequence.mhd`, or `_half_sequence.nii.gz`
 * with `_half_sequence_gt.nii.gz`), and `Info_<view>.cfg`. ED is the frame with the largest cavity, ES the
 * smallest one after it.
 */
export async function writeCamusLike(dir: string, frames: readonly SyntheticFrame[], options: CamusWriteOptions = {}): Promise<CamusWriteResult> {
  const format = options.format ?? 'mhd';
  const views = options.views ?? ['2CH'];
  const elementType = options.elementType ?? 'MET_UCHAR';
  const root = path.join(dir, format === 'mhd' ? 'training' : 'database_nifti');
  const files: string[] = [];
  const patients: string[] = [];
  for (const videoFrames of groupByVideo(frames)) {
    const patient = `patient${String(videoFrames[0].video + 1).padStart(4, '0')}`;
    patients.push(patient);
    const patientDir = path.join(root, patient);
    await mkdir(patientDir, { recursive: true });
    const areas = videoFrames.map((f) => countOnes(f.mask));
    const ed = areas.indexOf(Math.max(...areas));
    const afterEd = areas.slice(ed);
    const es = ed + afterEd.indexOf(Math.min(...afterEd));
    const sequence = videoFrames.slice(ed, es + 1);
    const { width, height } = videoFrames[0];
    const mm = videoFrames[0].geometry.mmPerPixel;
    for (const view of views) {
      const flip = view === '4CH';
      const pixelsOf = (list: readonly SyntheticFrame[], pick: (f: SyntheticFrame) => ArrayLike<number>, scale: number) => {
        const values: number[] = [];
        for (const f of list) {
          const source = pick(f);
          for (let i = 0; i < source.length; i++) values.push(scale === 1 ? source[i] : Math.round(source[i] * scale));
        }
        return flip ? mirror(values, width, height, list.length) : values;
      };
      const base = path.join(patientDir, `${patient}_${view}`);
      const volumes: Array<[suffix: string, list: SyntheticFrame[], isLabels: boolean]> = [
        ['ED', [videoFrames[ed]], false], ['ED_gt', [videoFrames[ed]], true],
        ['ES', [videoFrames[es]], false], ['ES_gt', [videoFrames[es]], true],
        ...(format === 'mhd'
          ? [['sequence', sequence, false] as [string, SyntheticFrame[], boolean]]
          : [['half_sequence', sequence, false], ['half_sequence_gt', sequence, true]] as Array<[string, SyntheticFrame[], boolean]>),
      ];
      for (const [suffix, list, isLabels] of volumes) {
        const dims = list.length > 1 || suffix.includes('sequence') ? [width, height, list.length] : [width, height, 1];
        if (format === 'mhd') {
          const type = isLabels ? 'MET_UCHAR' : elementType;
          const values = pixelsOf(list, (f) => (isLabels ? f.labels : f.image), isLabels ? 1 : elementScale[type]);
          files.push(...(await writeMetaImage(`${base}_${suffix}.mhd`, { dims, spacing: [mm, mm, 1], elementType: type, data: values, compressed: options.compressed })));
        } else {
          const values = pixelsOf(list, (f) => (isLabels ? f.labels : f.image), isLabels ? 1 : 255);
          const file = `${base}_${suffix}.nii.gz`;
          await writeNifti(file, { dims: dims[2] === 1 ? [width, height] : dims, spacing: [mm, mm, 1], data: Uint8Array.from(values) });
          files.push(file);
        }
      }
      const info = path.join(patientDir, `Info_${view}.cfg`);
      const ef = Math.round(100 * (1 - areas[es] / Math.max(1, areas[ed])));
      await writeFile(info, `ED: 1\nES: ${sequence.length}\nNbFrame: ${sequence.length}\nSex: F\nAge: 60\nImageQuality: Good\nEF: ${ef}\nFrameRate: 30\n`);
      files.push(info);
    }
  }
  const testPatients: string[] = [];
  if (options.splitLists && format === 'nifti') {
    const testCount = Math.max(1, Math.round(patients.length * 0.2));
    testPatients.push(...patients.slice(patients.length - testCount));
    const training = patients.slice(0, patients.length - testCount);
    const splitDir = path.join(dir, 'database_split');
    await mkdir(splitDir, { recursive: true });
    const lists: Array<[string, string[]]> = [
      ['subgroup_training.txt', training.slice(0, Math.max(1, training.length - 1))],
      ['subgroup_validation.txt', training.slice(Math.max(1, training.length - 1))],
      ['subgroup_testing.txt', testPatients],
    ];
    for (const [name, list] of lists) {
      const file = path.join(splitDir, name);
      await writeFile(file, list.map((p) => `${p}\n`).join(''));
      files.push(file);
    }
  }
  return { patients, files, testPatients };
}
