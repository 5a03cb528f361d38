/**
 * Parsers for option values, given to commander: a bad value is a usage error naming the option and what it needs
 * (commander adds the option's name). Lists of choices come from the contracts layer, never spelled out here.
 */
import { InvalidArgumentError } from 'commander';

export function integer(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('Needs an integer.');
  return n;
}

export function positiveInt(value: string): number {
  const n = integer(value);
  if (n < 1) throw new InvalidArgumentError('Needs a positive integer.');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = integer(value);
  if (n < 0) throw new InvalidArgumentError('Needs an integer ≥ 0.');
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('Needs a positive number.');
  return n;
}

/** A number in (min, max], or [min, max] with `inclusiveMin`. */
export function numberIn(min: number, max: number, what: string, inclusiveMin = false) {
  return (value: string): number => {
    const n = Number(value);
    const aboveMin = inclusiveMin ? n >= min : n > min;
    if (value.trim() === '' || !Number.isFinite(n) || !aboveMin || n > max) throw new InvalidArgumentError(`Needs ${what}.`);
    return n;
  };
}

export function intIn(min: number, max: number) {
  return (value: string): number => {
    const n = integer(value);
    if (n < min || n > max) throw new InvalidArgumentError(`Needs an integer from ${min} to ${max}.`);
    return n;
  };
}

export function port(value: string): number {
  return intIn(1, 65535)(value);
}

/** A comma-separated list; each item checked by `item`. Duplicates are an error. */
export function listOf<T>(item: (value: string) => T) {
  return (value: string): T[] => {
    const parts = value.split(',').map((s) => s.trim()).filter(Boolean);
    if (parts.length === 0) throw new InvalidArgumentError('Needs a comma-separated list.');
    if (new Set(parts).size !== parts.length) throw new InvalidArgumentError('Lists an item twice.');
    return parts.map(item);
  };
}

/** One of a fixed list (for list items; single options use commander's `.choices()`). */
export function oneOf<T extends string>(allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) throw new InvalidArgumentError(`'${value}' is not one of ${allowed.join(', ')}.`);
    return value as T;
  };
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** '90s', '30m', '12h', '2d' → milliseconds. */
export function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('Needs a duration such as 90s, 30m, 12h or 2d.');
  return Number(match[1]) * UNITS[match[2]];
}

export function regex(value: string): RegExp {
  try {
    return new RegExp(value);
  } catch (error) {
    throw new InvalidArgumentError(`Not a regular expression (${(error as Error).message}).`);
  }
}
