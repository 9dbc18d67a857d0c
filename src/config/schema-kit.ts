/**
 * Building blocks for the config file's zod schemas (schema.ts and its delivery and
 * feedback parts).
 *
 * `field(parse)` wraps a single-value parser that throws `FieldProblem` (fields.ts,
 * units.ts) as a zod schema reporting the problem at the value's key path; `opt`,
 * `list`, `duration`, `size` and `count` are the usual shapes built from it. No I/O;
 * the values come from operator-written YAML.
 */
import * as z from 'zod';
import { FieldProblem } from './errors.ts';
import { parseCount } from './fields.ts';
import { parseDuration, parseSize } from './units.ts';

export const DAY = 86_400_000;

/** Wraps a FieldProblem-throwing parser as a zod schema that reports the problem at its path. */
export function field<T>(parse: (value: unknown) => T) {
  return z.unknown().transform((value, ctx): T => {
    if (value === undefined) {
      ctx.addIssue({ code: 'custom', message: 'is required' });
      return z.NEVER;
    }
    try {
      return parse(value);
    } catch (error) {
      if (!(error instanceof FieldProblem)) throw error;
      ctx.addIssue({ code: 'custom', message: error.message });
      return z.NEVER;
    }
  });
}

export const opt = <T>(parse: (value: unknown) => T) => field(parse).optional();
export const list = <S extends z.ZodType>(item: S, max: number) => z.array(item).max(max).optional();

/** An optional duration in ms, `min` (default 1: zero refused) to `max`. */
export const duration = (max: number, min = 1) => opt((v) => parseDuration(v, { max, min }));
export const size = opt((v) => parseSize(v));
/** An optional whole number, `min` (default 1) to `max` (default 1e9). */
export const count = (min = 1, max = 1e9) => opt((v) => parseCount(v, min, max));
