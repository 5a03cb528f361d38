import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { loadConfig, projectRoot } from '../config';
import { recordHistory } from './historyFixtures';

describe('the demo (README\'s first command) with its smallest settings', () => {
  it('imports synthetic videos, runs search + oracle active learning + baseline, and writes the report', async () => {
    const suffix = Date.now().toString(36);
    const { status, out } = await new Promise<{ status: number; out: string }>((resolve) => {
      execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['scripts/demo.ts', '--preset', 'smoke'], {
        cwd: projectRoot, timeout: 540_000, killSignal: "SIGINT", maxBuffer: 32 * 1024 * 1024,
        env: { ...process.env, TASK_QUEUE_LIGHT: `demo-light-${suffix}`, TASK_QUEUE_ACCEL: `demo-accel-${suffix}` },
      }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: `${stdout}${stderr}` }));
    });
    expect(status, out.slice(-3000)).toBe(0);
    const reportPath = /Report: (\S+report\.md)/.exec(out)?.[1];
    expect(reportPath).toBeDefined();
    expect(reportPath!.startsWith(loadConfig().dataDir)).toBe(true);
    const markdown = fs.readFileSync(reportPath!, 'utf8');
    expect(markdown).toContain('![Test IoU vs labelled images](iou-vs-labelled.svg)');
    expect(markdown).toMatch(/\| mfe \|/);
    expect(markdown).toMatch(/\| random \|/);
    expect(markdown).toContain('EDNAS leaderboard');
    // Two seeds: mean curves with each seed's run as a thin line (too few seeds for bands), paired differences against
    // random and a verdict per strategy.
    expect(markdown).toContain('thin lines: each seed\'s own run');
    expect(markdown).toMatch(/\| mfe \| [0-9.]+ \[[-0-9.]+, [-0-9.]+\] \| [-+0-9.]+ \[[-+0-9.]+, [-+0-9.]+\] \(2 pairs\) \| .* \| (better than|not distinguishable from|worse than) random \|/);
    expect(fs.readFileSync(path.join(path.dirname(reportPath!), 'iou-vs-labelled.svg'), 'utf8').startsWith('<svg')).toBe(true);
    const benchmarkId = /Temporal UI: http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/(demo-smoke-[^/\s]+)/.exec(out)?.[1];
    expect(benchmarkId).toBeDefined();
    const connection = await Connection.connect({ address: loadConfig().temporal.address });
    try {
      const client = new Client({ connection, namespace: loadConfig().temporal.namespace });
      recordHistory('benchmark', benchmarkId!, await client.workflow.getHandle(benchmarkId!).fetchHistory());
    } finally {
      await connection.close();
    }
  }, 600_000);
});
