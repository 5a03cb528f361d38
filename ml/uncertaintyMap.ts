/**
 * Uncertainty heat maps for labelling tools: per-pixel uncertainty (H × W) → colour PNG, normalised to
 * [0, max]. The max goes into the PNG's XMP metadata and into scores.json, so a tool can show a colour bar in
 * real units. Maps and scores of one phase sit together under one prefix:
 *   <prefix>/scores.json, <prefix>/maps/<encoded id>.png
 */
import sharp from 'sharp';
import { scoringKeys } from '../contracts/keys';
import type { AcquisitionFunction, PixelReduction, UncertaintyFunction } from './acquisition';
import type { BlobStore } from '../store/blobStore';
import type { MCMode, UncertaintyMapSink } from './mcSampling';

export type ColourMap = 'viridis' | 'gray';

/** Viridis (matplotlib) at 9 evenly spaced stops; the table interpolates linearly between them. */
const VIRIDIS_STOPS = ['440154', '472d7b', '3b528b', '2c728e', '21918c', '28ae80', '5ec962', 'addc30', 'fde725'];

function colourTable(map: ColourMap): Uint8Array {
  const table = new Uint8Array(256 * 3);
  const stops = (map === 'viridis' ? VIRIDIS_STOPS : ['000000', 'ffffff']).map((hex) =>
    [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)),
  );
  for (let level = 0; level < 256; level++) {
    const x = (level / 255) * (stops.length - 1);
    const lo = Math.min(Math.floor(x), stops.length - 2);
    const f = x - lo;
    for (let ch = 0; ch < 3; ch++) table[level * 3 + ch] = Math.round(stops[lo][ch] * (1 - f) + stops[lo + 1][ch] * f);
  }
  return table;
}

const tables = new Map<ColourMap, Uint8Array>();
function tableFor(map: ColourMap): Uint8Array {
  let table = tables.get(map);
  if (!table) tables.set(map, (table = colourTable(map)));
  return table;
}

/** The RGB colour a normalised value in [0, 1] gets. */
export function colourOf(value: number, map: ColourMap = 'viridis'): [number, number, number] {
  const level = Math.round(Math.min(1, Math.max(0, value)) * 255);
  const table = tableFor(map);
  return [table[level * 3], table[level * 3 + 1], table[level * 3 + 2]];
}

export interface HeatmapOptions {
  /** Value shown as the top colour (default: the map's own max); use one max for a whole pool to compare maps. */
  max?: number;
  colourMap?: ColourMap;
}

export interface Heatmap {
  png: Uint8Array;
  /** The value the top colour stands for. */
  max: number;
}

const XMP_ATTRIBUTE = 'echo:uncertaintyMax';

function xmpPacket(max: number): string {
  return (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
    `<rdf:Description rdf:about="" xmlns:echo="urn:echo-al:uncertainty/" ${XMP_ATTRIBUTE}="${max}"/>` +
    '</rdf:RDF></x:xmpmeta>'
  );
}

/** Renders a row-major H × W uncertainty map as an RGB PNG. */
export async function uncertaintyHeatmapPng(
  map: Float32Array,
  height: number,
  width: number,
  options: HeatmapOptions = {},
): Promise<Heatmap> {
  if (map.length !== height * width) {
    throw new Error(`Uncertainty map has ${map.length} values but ${height}×${width} needs ${height * width}.`);
  }
  let max = options.max ?? 0;
  if (options.max === undefined) for (const v of map) if (v > max) max = v;
  if (!(Number.isFinite(max) && max >= 0)) throw new Error(`Heat map max must be a finite number ≥ 0, got ${max}.`);
  const table = tableFor(options.colourMap ?? 'viridis');
  const rgb = Buffer.alloc(height * width * 3);
  const scale = max > 0 ? 255 / max : 0;
  for (let i = 0; i < map.length; i++) {
    const level = Math.min(255, Math.max(0, Math.round(map[i] * scale))) * 3;
    rgb[i * 3] = table[level];
    rgb[i * 3 + 1] = table[level + 1];
    rgb[i * 3 + 2] = table[level + 2];
  }
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } }).png().withXmp(xmpPacket(max)).toBuffer();
  return { png: new Uint8Array(png), max };
}

/** Reads back the max written by `uncertaintyHeatmapPng`; undefined for a PNG without it. */
export async function readHeatmapMax(png: Uint8Array): Promise<number | undefined> {
  const { xmpAsString } = await sharp(png).metadata();
  const match = xmpAsString?.match(new RegExp(`${XMP_ATTRIBUTE}="([^"]+)"`));
  return match ? Number(match[1]) : undefined;
}

export interface MapEntry {
  key: string;
  max: number;
}

/**
 * A map sink for `mcScorePool` that writes each image's heat map to the store as it is produced, so maps never
 * pile up in memory, and remembers where each went for scores.json.
 */
export class UncertaintyMapWriter implements UncertaintyMapSink {
  readonly entries = new Map<string, MapEntry>();

  constructor(
    private readonly store: BlobStore,
    private readonly prefix: string,
    readonly fn: UncertaintyFunction,
    private readonly options: HeatmapOptions = {},
  ) {}

  readonly onMap = async (id: string, map: Float32Array, height: number, width: number): Promise<void> => {
    const { png, max } = await uncertaintyHeatmapPng(map, height, width, this.options);
    const key = scoringKeys.map(this.prefix, id);
    await this.store.putBytes(key, png, 'image/png');
    this.entries.set(id, { key, max });
  };
}

/** The scores.json document: what was run and, per image, its scores and (if written) its map. */
export interface ScoresDocument {
  samples: number;
  mode: MCMode;
  reduce: PixelReduction;
  functions: AcquisitionFunction[];
  mapFunction?: UncertaintyFunction;
  items: { id: string; scores: Partial<Record<AcquisitionFunction, number>>; map?: MapEntry; area?: number }[];
  /** Pooled features of the items, in their order (float32 little-endian rows of `featureDim` values). */
  featuresKey?: string;
  featureDim?: number;
}

export interface ScoresRun {
  samples: number;
  mode: MCMode;
  reduce: PixelReduction;
  functions: readonly AcquisitionFunction[];
}

/** The scores document of these results (and the maps a `UncertaintyMapWriter` wrote for them). */
export function scoresDocument(
  results: readonly { id: string; scores: Partial<Record<AcquisitionFunction, number>>; area?: number }[],
  run: ScoresRun,
  maps?: UncertaintyMapWriter,
  features?: { key: string; dim: number },
): ScoresDocument {
  return {
    samples: run.samples,
    mode: run.mode,
    reduce: run.reduce,
    functions: [...run.functions],
    ...(maps ? { mapFunction: maps.fn } : {}),
    items: results.map(({ id, scores, area }) => {
      const map = maps?.entries.get(id);
      return { id, scores, ...(map ? { map } : {}), ...(area !== undefined ? { area } : {}) };
    }),
    ...(features ? { featuresKey: features.key, featureDim: features.dim } : {}),
  };
}
