/**
 * Reads the Lua scripts of lua/ and expands their `--@include name` lines
 * from lua/includes/name.lua, each include once per script.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A script ready for defineCommand: `<verb>-<numKeys>.lua`. */
export interface LoadedScript {
  name: string;
  numberOfKeys: number;
  lua: string;
}

/** The lua/ folder next to src/ (and next to dist/src/ once built). */
export function luaDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const dir = resolve(here, up, 'lua');
    try {
      readdirSync(dir);
      return dir;
    } catch {
      // try the next candidate
    }
  }
  throw new Error(`zretry: cannot find the lua/ folder near ${here}`);
}

function expand(source: string, dir: string, seen: Set<string>, from: string): string {
  return source.replace(/^--@include\s+(\S+)\s*$/gm, (_line, name: string) => {
    if (seen.has(name)) return '';
    seen.add(name);
    const file = join(dir, 'includes', `${name}.lua`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new Error(`zretry: ${from} includes "${name}" but ${file} does not exist`);
    }
    return expand(text, dir, seen, `includes/${name}.lua`);
  });
}

/** Loads every script of the lua/ folder. */
export function loadScripts(dir = luaDir()): LoadedScript[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.lua'))
    .map((file) => {
      const m = /^([a-z-]+)-(\d+)\.lua$/.exec(file);
      if (!m) throw new Error(`zretry: script ${file} is not named <verb>-<numKeys>.lua`);
      const lua = expand(readFileSync(join(dir, file), 'utf8'), dir, new Set(), file);
      return { name: m[1]!, numberOfKeys: Number(m[2]), lua };
    });
}
