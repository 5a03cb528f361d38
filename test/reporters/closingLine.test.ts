/**
 * The test command's closing line (test/reporters/closingLine.ts) on a real vitest run whose forks die: tests that
 * never finished count as failed and are named, and so are the files.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';
import { projectRoot } from '../../config';

it('counts the tests of a crashed fork as failed and names them and their files', () => {
  const run = spawnSync(path.join(projectRoot, 'node_modules', '.bin', 'vitest'), [
    'run', '--config', 'test/fixtures/closing-line/vitest.config.ts', '--reporter=./test/reporters/closingLine.ts',
  ], { cwd: projectRoot, encoding: 'utf8', timeout: 60_000 });
  expect(run.status).not.toBe(0);
  const line = run.stdout.trim().split('\n').at(-1)!;
  expect(line).toMatch(/^2 passed, 2 failed, 1 skipped; 2 of the failed did not finish: /);
  expect(line).toContain('dies.fixture.ts › takes its fork down');
  expect(line).toContain('dies.fixture.ts › never runs');
  expect(line).toMatch(/files that did not finish or failed outside their tests: .*dies\.fixture\.ts.*diesAtImport\.fixture\.ts/);
  expect(line).not.toMatch(/passes\.fixture\.ts/);
}, 60_000);
