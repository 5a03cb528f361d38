/**
 * The test command's one plain closing line, from what vitest knows of every collected test: passed, failed and
 * skipped — where a test that never finished (its fork crashed, an error outside the tests stopped the file) counts
 * as failed and is named, and a file that could not run or an error outside any test is said as well.
 */
import type { Reporter, SerializedError, TestModule } from 'vitest/node';

export function closingLine(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): string {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const unfinished: string[] = [];
  const brokenFiles: string[] = [];
  for (const module of modules) {
    for (const test of module.children.allTests()) {
      const { state } = test.result();
      if (state === 'passed') passed += 1;
      else if (state === 'failed') failed += 1;
      else if (state === 'skipped') skipped += 1;
      else unfinished.push(`${module.relativeModuleId} › ${test.fullName}`);
    }
    // A file that did not finish (its fork died, before or after collecting its tests), or failed outside its tests
    // (it did not load, a hook threw).
    const state = module.state();
    if (state === 'queued' || state === 'pending' || module.errors().length > 0) brokenFiles.push(module.relativeModuleId);
  }
  const parts = [`${passed} passed`, `${failed + unfinished.length} failed`, `${skipped} skipped`];
  let line = parts.join(', ');
  if (unfinished.length > 0) line += `; ${unfinished.length} of the failed did not finish: ${unfinished.slice(0, 5).join('; ')}${unfinished.length > 5 ? '; …' : ''}`;
  if (brokenFiles.length > 0) line += `; files that did not finish or failed outside their tests: ${brokenFiles.join(', ')}`;
  if (unhandledErrors.length > 0) line += `; ${unhandledErrors.length} error${unhandledErrors.length === 1 ? '' : 's'} outside any test (${unhandledErrors.map((e) => e.message).slice(0, 3).join(' | ')})`;
  return line;
}

export default class ClosingLineReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    console.log(closingLine(modules, unhandledErrors));
  }
}
