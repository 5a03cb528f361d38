import { defineConfig } from 'vitest/config';

/**
 * Three tiers (README, "Tests"): `unit` needs no services; `workflows` runs the real workflow code under Temporal's
 * time-skipping test server with stubbed activities; `e2e` (`*.e2e.test.ts`) talks to the real services
 * (Temporal, MinIO, the worker, Label Studio). `npm test` runs all three.
 */
export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Tests share two CPU cores and real services; parallel files would only thrash.
    fileParallelism: false,
    projects: [
      // Service-free files share nothing: two at a time keep both cores busy while one waits on a child process.
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/**/*.e2e.test.ts', 'test/workflows/logic/**'], fileParallelism: true, maxWorkers: 2 } },
      { extends: true, test: { name: 'workflows', include: ['test/workflows/logic/**/*.test.ts'] } },
      { extends: true, test: { name: 'e2e', include: ['test/**/*.e2e.test.ts'] } },
    ],
  },
});
