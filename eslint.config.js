import tseslint from 'typescript-eslint';
import { layersPlugin } from './eslint.layers.js';

export default tseslint.config(
  { ignores: ['node_modules/**', '.*/**', 'dist/**'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { layers: layersPlugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // Imports run downhill between the project's folders (eslint.layers.js).
      'layers/downhill': 'error',
    },
  },
  {
    // Workflow code is replayed deterministically inside Temporal's sandbox: no Node built-ins, no I/O libraries.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*'], message: 'Workflows must be deterministic: no Node built-ins.' },
          { group: ['fs', 'fs/*', 'path', 'os', 'crypto', 'child_process', 'http', 'https', 'net', 'stream', 'url', 'util', 'worker_threads'],
            message: 'Workflows must be deterministic: no Node built-ins.' },
          { group: ['@tensorflow/*', 'sharp', 'minio', '../activities', '../activities/*', '../ml/*', '../store/*'],
            message: 'Workflows call activities; import only their types (import type).', allowTypeImports: true },
        ],
      }],
    },
  },
);
