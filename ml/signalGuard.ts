/**
 * Keeps asynchronous signals off the threads that run TensorFlow's kernels.
 *
 * Why: the f32 GEMM kernels that oneDNN generates at run time (every libtensorflow up to 2.21 ships oneDNN ≤ 3.7;
 * the fix is in oneDNN 3.11.2, uxlfoundation/oneDNN#4845 and #4855) point the stack register into a heap workspace
 * while they run. A signal handled on such a thread has its frame written there — into the heap. Node installs
 * handlers as soon as a process spawns a child (SIGCHLD), listens for SIGINT/SIGTERM (the worker's graceful
 * shutdown) or runs on a terminal (SIGWINCH), so a child process exiting during a convolution was enough to corrupt
 * the worker's heap ("corrupted size vs. prev_size", "double free or corruption"): the chaos tests restart MinIO
 * and Temporal as children of the process that trains. TensorFlow's matrix products (MatMul, and convolutions
 * that oneDNN lowers to GEMM) call those kernels on its intra-op pool and on the calling thread — the JS thread.
 *
 * The guard: the JS thread blocks these signals before libtensorflow creates its thread pools, which inherit the
 * mask. The kernel then delivers them to a thread that does not block them — Node's own helpers, started before
 * this, which never run TensorFlow's kernels — where libuv's handler forwards them to the event loop as before, so
 * `process.on('SIGINT', …)` and child-process exits behave as they always did. Child processes start with an
 * empty mask (libuv resets it before exec). Synchronous signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS)
 * are never blocked, and neither is SIGPROF, which V8's sampling profiler sends to the JS thread itself.
 */
import fs from 'node:fs';

/** The asynchronous signals (Linux numbering) Node or libuv may catch: their frames must not land in a GEMM. */
export const GUARDED_SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGUSR1: 10, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGCHLD: 17,
  SIGCONT: 18, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26,
  SIGWINCH: 28, SIGIO: 29, SIGPWR: 30,
};

/** glibc's sigset_t: 1024 bits. */
const SIGSET_BYTES = 128;
const SIG_BLOCK = 0;

export type SignalGuardState = { blocked: true } | { blocked: false; reason: string };

let state: SignalGuardState | undefined;

/** The guarded signals as a sigset_t (bit n − 1 for signal n). */
function guardedSet(): Uint8Array {
  const set = new Uint8Array(SIGSET_BYTES);
  for (const signal of Object.values(GUARDED_SIGNALS)) set[(signal - 1) >> 3] |= 1 << ((signal - 1) & 7);
  return set;
}

/**
 * Blocks the guarded signals on the calling (JS) thread, once per process; call it before libtensorflow loads.
 * Returns whether they are blocked, or why not (not Linux, or the FFI library is missing): the process then runs as
 * before, exposed to the fault.
 */
export async function blockAsyncSignals(): Promise<SignalGuardState> {
  if (state) return state;
  if (process.platform !== 'linux') {
    state = { blocked: false, reason: `no signal guard on ${process.platform} (only Linux's sigset_t is known here)` };
    return state;
  }
  try {
    const { default: koffi } = await import('koffi');
    const libc = koffi.load('libc.so.6');
    const pthreadSigmask = libc.func('int pthread_sigmask(int how, const uint8_t *set, uint8_t *oldset)');
    const rc = pthreadSigmask(SIG_BLOCK, guardedSet(), null) as number;
    state = rc === 0 ? { blocked: true } : { blocked: false, reason: `pthread_sigmask failed with ${rc}` };
  } catch (error) {
    state = { blocked: false, reason: `could not block signals: ${(error as Error).message}` };
  }
  return state;
}

/** The blocked-signal mask of one thread of this process, as the kernel reports it (`SigBlk` in its status). */
export function threadSignalMask(taskId: number | 'self'): bigint {
  const status = fs.readFileSync(taskId === 'self' ? '/proc/thread-self/status' : `/proc/self/task/${taskId}/status`, 'utf8');
  const line = status.split('\n').find((l) => l.startsWith('SigBlk:'));
  if (!line) throw new Error(`no SigBlk line in the status of thread ${taskId}`);
  return BigInt(`0x${line.slice('SigBlk:'.length).trim()}`);
}

/** True when `mask` blocks every guarded signal. */
export function blocksGuardedSignals(mask: bigint): boolean {
  return Object.values(GUARDED_SIGNALS).every((signal) => (mask >> BigInt(signal - 1)) & 1n);
}
