/**
 * Validates configuration with a zod schema and, when it is wrong, throws a
 * ConfigError whose message names each bad field, the value given and what
 * is allowed. Every config object is strict: an unknown key is an error
 * that names the key and the option it most likely meant.
 */
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { closest } from './closest.js';

/** Parses input with schema or throws a ConfigError that a person can act on. */
export function parseConfig<S extends z.ZodTypeAny>(schema: S, input: unknown, what = 'configuration'): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.flatMap((i) => {
    if (i.code === 'unrecognized_keys') {
      const valid = optionsAt(schema, i.path, input);
      return i.keys.map((key) => {
        const path = [...i.path, key].join('.');
        const near = closest(key, valid);
        const hint = near !== undefined ? `did you mean "${near}"?` : `the options here are ${valid.map((k) => `"${k}"`).join(', ')}`;
        return { path, message: `${path}: unknown option; ${hint}` };
      });
    }
    const path = i.path.join('.') || '(root)';
    const given = valueAt(input, i.path);
    const shown = given === undefined ? '' : ` (got ${JSON.stringify(given)})`;
    return [{ path, message: `${path}: ${i.message}${shown}` }];
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

type Def = {
  typeName?: string;
  innerType?: z.ZodTypeAny;
  schema?: z.ZodTypeAny;
  type?: z.ZodTypeAny;
  options?: z.ZodTypeAny[];
  discriminator?: string;
  optionsMap?: Map<unknown, z.ZodTypeAny>;
  shape?: () => Record<string, z.ZodTypeAny>;
};

/** The schema under defaults, optionals and effects. */
function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let s = schema;
  for (let def = s._def as Def; def.innerType ?? (def.typeName === 'ZodEffects' ? def.schema : undefined); def = s._def as Def) {
    s = def.innerType ?? def.schema!;
  }
  return s;
}

/** The object schema that validates `value`, looking through wrappers and unions. */
function objectSchema(schema: z.ZodTypeAny, value: unknown): z.ZodTypeAny | undefined {
  const s = unwrap(schema);
  const def = s._def as Def;
  if (def.typeName === 'ZodObject') return s;
  if (def.typeName === 'ZodDiscriminatedUnion') {
    const option = def.optionsMap?.get((value as Record<string, unknown> | null)?.[def.discriminator!]) ?? def.options?.[0];
    return option && objectSchema(option, value);
  }
  if (def.typeName === 'ZodUnion') {
    for (const o of def.options ?? []) {
      const found = objectSchema(o, value);
      if (found) return found;
    }
  }
  return undefined;
}

/** The option names valid at path (an object inside the config), for "did you mean". */
function optionsAt(schema: z.ZodTypeAny, path: ReadonlyArray<PropertyKey>, input: unknown): string[] {
  let s: z.ZodTypeAny | undefined = schema;
  let v: unknown = input;
  for (const key of path) {
    if (!s) return [];
    if (typeof key === 'number') {
      const def = unwrap(s)._def as Def;
      s = def.typeName === 'ZodArray' ? def.type : undefined;
    } else {
      const obj = objectSchema(s, v);
      s = obj && (obj._def as Def).shape?.()[String(key)];
    }
    v = (v as Record<PropertyKey, unknown> | null | undefined)?.[key];
  }
  const obj = s && objectSchema(s, v);
  return obj ? Object.keys((obj._def as Def).shape?.() ?? {}) : [];
}
