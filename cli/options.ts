/** Parsing helpers for CLI option values: each bad value becomes one clear line. */
import { CliError } from './context';

export function str(values: Record<string, unknown>, name: string, fallback?: string): string {
  const v = values[name];
  if (v === undefined || v === '') {
    if (fallback === undefined) throw new CliError(`--${name} is required`);
    return fallback;
  }
  return String(v);
}

export function num(values: Record<string, unknown>, name: string, fallback: number, check: (n: number) => boolean = Number.isFinite, what = 'a number'): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!check(n)) throw new CliError(`--${name} ${String(v)} is not ${what}`);
  return n;
}

export const positiveInt = (n: number) => Number.isInteger(n) && n > 0;

export function list(values: Record<string, unknown>, name: string): string[] | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const items = String(v).split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new CliError(`--${name} needs a comma-separated list`);
  return items;
}

export function oneOf<T extends string>(values: Record<string, unknown>, name: string, allowed: readonly T[], fallback: T): T {
  const v = values[name];
  if (v === undefined) return fallback;
  if (!allowed.includes(v as T)) throw new CliError(`--${name} ${String(v)} is not one of ${allowed.join(', ')}`);
  return v as T;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** '90s', '30m', '12h', '2d' → milliseconds. */
export function duration(values: Record<string, unknown>, name: string, fallbackMs?: number): number | undefined {
  const v = values[name];
  if (v === undefined) return fallbackMs;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(String(v));
  if (!match) throw new CliError(`--${name} ${String(v)} is not a duration such as 90s, 30m, 12h or 2d`);
  return Number(match[1]) * UNITS[match[2]];
}
