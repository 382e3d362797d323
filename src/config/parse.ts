/**
 * Validates configuration with a zod schema and, when it is wrong, throws a
 * ConfigError whose message names each bad field, the value given and what
 * is allowed.
 */
import type { z } from 'zod';
import { ConfigError } from '../errors.js';

/** Parses input with schema or throws a ConfigError that a person can act on. */
export function parseConfig<S extends z.ZodTypeAny>(schema: S, input: unknown, what = 'configuration'): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const path = i.path.join('.') || '(root)';
    const given = valueAt(input, i.path);
    const shown = given === undefined ? '' : ` (got ${JSON.stringify(given)})`;
    return { path, message: `${path}: ${i.message}${shown}` };
  });
  throw new ConfigError(`invalid ${what}:\n  ${issues.map((i) => i.message).join('\n  ')}`, issues);
}

function valueAt(input: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v: unknown = input;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}
