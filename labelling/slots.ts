/**
 * A first-come, first-served limit on work in progress: at most `size` holders at once; the others wait in arrival
 * order until a slot frees or their deadline passes (then `SlotTimeoutError`). The labels server uses one for reading
 * bodies and one for handing submissions to the run.
 */
export class SlotTimeoutError extends Error {
  constructor(readonly waitedMs: number) {
    super(`waited ${Math.round(waitedMs / 1000)} s for a turn`);
    this.name = 'SlotTimeoutError';
  }
}

interface Waiter {
  grant: () => void;
}

export class Slots {
  private held = 0;
  private readonly waiting: Waiter[] = [];

  constructor(readonly size: number) {}

  /** Holders and waiters right now. */
  get load(): { held: number; waiting: number } {
    return { held: this.held, waiting: this.waiting.length };
  }

  /** Resolves with the slot's release function (idempotent) once the caller's turn comes, or rejects at `deadline`. */
  acquire(deadline: number): Promise<() => void> {
    if (this.held < this.size && this.waiting.length === 0) {
      this.held += 1;
      return Promise.resolve(this.releaser());
    }
    const since = Date.now();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          this.held += 1;
          resolve(this.releaser());
        },
      };
      const timer = setTimeout(() => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(new SlotTimeoutError(Date.now() - since));
      }, Math.max(0, deadline - Date.now()));
      this.waiting.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= 1;
      this.waiting.shift()?.grant();
    };
  }
}
