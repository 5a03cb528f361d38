/**
 * Regression test for the worker's heap corruption under MinIO and Temporal restarts: a signal handled on a thread
 * inside one of oneDNN's generated GEMM kernels wrote its frame into the heap (ml/signalGuard.ts). A child process
 * computes matrix products and convolutions while this test sends it thousands of signals of the kinds Node
 * handles; without the guard, libtensorflow 2.18 aborts within a second or two ("corrupted size vs. prev_size").
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';

interface Ready {
  ready: true;
  backend: string;
  pid: number;
  threads: { tid: number; guarded: boolean; startedWithBackend: boolean }[];
}
interface Done {
  rounds: number;
  mismatches: number;
  signals: number;
}

const BOMBARD_MS = 8000;

describe('the signal guard', () => {
  it('keeps a process computing GEMMs under thousands of signals alive, its results bit for bit the same', async () => {
    const child = spawn(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['test/ml/helpers/gemmUnderSignals.ts', String(BOMBARD_MS)], {
      cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TF_NUM_INTRAOP_THREADS: '2' },
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const ready = await new Promise<Ready>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const line = stdout.split('\n').find((l) => l.startsWith('{"ready"'));
        if (line) resolve(JSON.parse(line) as Ready);
      });
      void exited.then(({ code, signal }) => reject(new Error(`the child exited (${code ?? signal}) before it was ready: ${stderr}`)));
    });
    expect(ready.backend).toBe('tfjs-node');
    // The JS thread (tid = pid) and every thread started with the backend (TensorFlow's pools) block the guarded
    // signals.
    expect(ready.threads.find((t) => t.tid === ready.pid)?.guarded).toBe(true);
    const started = ready.threads.filter((t) => t.startedWithBackend);
    expect(started.length).toBeGreaterThanOrEqual(2);
    expect(started.filter((t) => !t.guarded)).toEqual([]);
    // Some thread must still take them, or they would stay pending.
    expect(ready.threads.some((t) => !t.guarded)).toBe(true);

    // The tsx wrapper spawns node: signal the process that computes (its pid came from itself).
    let sent = 0;
    let running = true;
    void exited.then(() => { running = false; });
    const until = Date.now() + BOMBARD_MS - 500;
    while (running && Date.now() < until) {
      for (let i = 0; i < 200 && running; i++) {
        try {
          process.kill(ready.pid, i % 2 === 0 ? 'SIGUSR2' : 'SIGCHLD');
          sent += 1;
        } catch {
          running = false;
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const { code, signal } = await exited;
    expect({ code, signal, stderr: code === 0 ? '' : stderr.slice(-2000) }).toEqual({ code: 0, signal: null, stderr: '' });
    const done = JSON.parse(stdout.trim().split('\n').at(-1)!) as Done;
    console.log(`[signal guard] ${sent} signals sent, ${done.signals} handled by the child's JS listeners, ${done.rounds} rounds of GEMMs, ${done.mismatches} differing`);
    expect(sent).toBeGreaterThan(10_000);
    expect(done.signals).toBeGreaterThan(0);
    expect(done.rounds).toBeGreaterThan(5);
    expect(done.mismatches).toBe(0);
  }, 120_000);
});
