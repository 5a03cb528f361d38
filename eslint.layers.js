/**
 * The project's layers, lowest first: a module may import only from its own layer and the layers listed for it, so
 * imports run downhill (`contracts` names things, `store` keeps them, `ml` computes, `data` imports datasets, …,
 * `workflows` orchestrate through activity types, and the entry points sit on top). Enforced by the `layers/downhill`
 * rule below (eslint.config.js); a new folder must be added here.
 */
import path from 'node:path';

const BASE = ['contracts', 'config'];
const LIBRARIES = [...BASE, 'store', 'ml', 'data', 'report', 'export', 'labelling'];
const ENTRY = [...LIBRARIES, 'activities', 'workflows', 'cli', 'worker'];

/** layer → the layers it may import from (besides itself). */
export const LAYERS = {
  contracts: [],
  config: ['contracts'],
  store: BASE,
  ml: [...BASE, 'store'],
  data: [...BASE, 'store', 'ml'],
  report: [...BASE, 'store', 'ml', 'data'],
  export: [...BASE, 'store', 'ml', 'data'],
  labelling: [...BASE, 'store', 'ml', 'data'],
  activities: LIBRARIES,
  // Workflows run in Temporal's sandbox: contracts only, and activity *types* (allowed below).
  workflows: ['contracts'],
  cli: [...LIBRARIES, 'activities', 'workflows'],
  worker: [...LIBRARIES, 'activities', 'workflows'],
  client: [...ENTRY],
  scripts: [...ENTRY, 'client'],
  test: [...ENTRY, 'client', 'scripts'],
};
/** Imports allowed only as `import type` (erased at run time): layer → layers. */
const TYPE_ONLY = { workflows: ['activities'] };

const root = path.dirname(new URL(import.meta.url).pathname);

/** The layer of a file: its top-level folder, or a root file's name without extension. */
function layerOf(file) {
  const relative = path.relative(root, file);
  if (relative.startsWith('..')) return undefined;
  const [first, ...rest] = relative.split(path.sep);
  return rest.length > 0 ? first : first.replace(/\.[cm]?[jt]s$/, '');
}

const downhill = {
  meta: { type: 'problem', schema: [], messages: { uphill: "'{{from}}' may not import from '{{to}}' (layers: eslint.layers.js)." } },
  create(context) {
    const from = layerOf(context.filename);
    if (!from || !(from in LAYERS)) return {};
    const check = (node, source, typeOnly) => {
      if (!source?.startsWith('.')) return;
      const to = layerOf(path.resolve(path.dirname(context.filename), source));
      if (!to || to === from || !(to in LAYERS)) return;
      if (LAYERS[from].includes(to) || (typeOnly && TYPE_ONLY[from]?.includes(to))) return;
      context.report({ node, messageId: 'uphill', data: { from, to } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value, node.importKind === 'type'),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value, node.exportKind === 'type'),
      ExportAllDeclaration: (node) => check(node, node.source.value, node.exportKind === 'type'),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value, false),
    };
  },
};

export const layersPlugin = { rules: { downhill } };
