/**
 * Options that were renamed keep working under their old name for a while:
 * the value moves to the new name and Node prints a DeprecationWarning
 * (once per option, like util.deprecate). Giving both names is an error.
 */
import { z } from 'zod';

const warned = new Set<string>();

/** Emits a DeprecationWarning once per code: `old` still works, `now` is the name to use. */
export function warnRenamed(old: string, now: string): void {
  const code = `ZRETRY_RENAMED_${old.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
  if (warned.has(code)) return;
  warned.add(code);
  process.emitWarning(`${old} is deprecated: it was renamed ${now}, which says what it limits; the old name will be removed in a later version`, {
    type: 'DeprecationWarning',
    code,
  });
}

/**
 * The object schema `obj` (found at `section` in the config), also taking
 * each old key of `renamed` for its new one.
 */
export function withRenamedKeys<T extends z.AnyZodObject, R extends Record<string, keyof z.input<T> & string>>(section: string, obj: T, renamed: R) {
  const schema = z.preprocess((value, ctx) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    const out: Record<string, unknown> = { ...value };
    for (const [old, now] of Object.entries(renamed)) {
      if (!(old in out)) continue;
      if (now in out) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [old], message: `is the old name of ${now}; give only ${now}` });
        delete out[old];
        continue;
      }
      warnRenamed(`${section}.${old}`, `${section}.${now}`);
      out[now] = out[old];
      delete out[old];
    }
    return out;
  }, obj);
  // the input type keeps the old names (optional), so typed configs using them still compile
  return schema as unknown as z.ZodEffects<T, z.output<T>, z.input<T> & { [K in keyof R]?: z.input<T>[R[K]] }>;
}
