/** The lint rule that keeps imports downhill between the project's folders (eslint.layers.js). */
import path from 'node:path';
import { RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';
import { afterAll, describe, it } from 'vitest';
import { projectRoot } from '../../config';
// @ts-expect-error -- a plain JavaScript module without type declarations
import { layersPlugin } from '../../eslint.layers.js';

// RuleTester runs its cases through the test framework's hooks.
Object.assign(RuleTester, { afterAll, describe, it });

const tester = new RuleTester({ languageOptions: { parser: tseslint.parser } });
const file = (relative: string) => path.join(projectRoot, relative);

tester.run('layers/downhill', layersPlugin.rules.downhill, {
  valid: [
    { filename: file('ml/train/x.ts'), code: "import type { BlobStore } from '../../store/blobStore';" },
    { filename: file('data/import/x.ts'), code: "import { buildModel } from '../../ml/zoo';" },
    { filename: file('activities/x.ts'), code: "import { submitMasks } from '../labelling/submit';" },
    { filename: file('workflows/x.ts'), code: "import type { LightActivities } from '../activities';" },
    { filename: file('ml/x.ts'), code: "import * as tf from '@tensorflow/tfjs';" },
  ],
  invalid: [
    { filename: file('ml/x.ts'), code: "import { datasetKeys } from '../data/manifest';", errors: [{ messageId: 'uphill' }] },
    { filename: file('contracts/x.ts'), code: "import { loadConfig } from '../config';", errors: [{ messageId: 'uphill' }] },
    { filename: file('store/x.ts'), code: "export { buildModel } from '../ml/zoo';", errors: [{ messageId: 'uphill' }] },
    { filename: file('labelling/x.ts'), code: "import { activeLearning } from '../workflows';", errors: [{ messageId: 'uphill' }] },
    { filename: file('workflows/x.ts'), code: "import { lightActivities } from '../activities';", errors: [{ messageId: 'uphill' }] },
    { filename: file('data/x.ts'), code: "const m = await import('../activities/training');", errors: [{ messageId: 'uphill' }] },
  ],
});
