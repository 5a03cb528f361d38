/** The labels server's waiting line: first come, first served, bounded waits, idempotent release. */
import { describe, expect, it } from 'vitest';
import { Slots, SlotTimeoutError } from '../../labelling/slots';

describe('Slots', () => {
  it('lets `size` holders in at once and the next waiters in arrival order as slots free', async () => {
    const slots = new Slots(2);
    const far = Date.now() + 10_000;
    const first = await slots.acquire(far);
    const second = await slots.acquire(far);
    const order: number[] = [];
    const waiting = [3, 4, 5].map((n) => slots.acquire(far).then((release) => {
      order.push(n);
      return release;
    }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(slots.load).toEqual({ held: 2, waiting: 3 });
    first();
    first(); // releasing twice frees one slot only
    const third = await waiting[0];
    expect(slots.load).toEqual({ held: 2, waiting: 2 });
    second();
    third();
    (await waiting[1])();
    (await waiting[2])();
    expect(order).toEqual([3, 4, 5]);
    expect(slots.load).toEqual({ held: 0, waiting: 0 });
  });

  it('gives up at the deadline without taking a slot, and a later waiter still gets its turn', async () => {
    const slots = new Slots(1);
    const held = await slots.acquire(Date.now() + 10_000);
    await expect(slots.acquire(Date.now() + 50)).rejects.toBeInstanceOf(SlotTimeoutError);
    expect(slots.load).toEqual({ held: 1, waiting: 0 });
    const later = slots.acquire(Date.now() + 10_000);
    held();
    (await later)();
    expect(slots.load).toEqual({ held: 0, waiting: 0 });
  });
});
