/**
 * Destructive commands ask first: on a terminal a question, elsewhere
 * (scripts, CI, a pipe) a refusal unless --yes was given.
 */
import { createInterface } from 'node:readline/promises';
import { UsageError } from './exit.js';

/** How a command may ask: whether stdin is a terminal, and how to ask there. */
export interface Asker {
  interactive: boolean;
  ask(question: string): Promise<string>;
}

/** Asks on the process's terminal (the question on stderr, so stdout stays clean). */
export const terminal: Asker = {
  interactive: process.stdin.isTTY === true,
  async ask(question) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

/**
 * Resolves true to go ahead. yes: go ahead without asking. Otherwise asks
 * `question` and goes ahead when the answer is `expect` (or y/yes when
 * expect is undefined); without a terminal, throws a UsageError built
 * from `refusal`.
 */
export async function confirm(asker: Asker, opts: { yes: boolean; question: string; refusal: string; expect?: string }): Promise<boolean> {
  if (opts.yes) return true;
  if (!asker.interactive) throw new UsageError(`${opts.refusal} without --yes (no terminal to ask): look first with --dry-run, then add --yes`);
  const answer = (await asker.ask(opts.question)).trim();
  return opts.expect !== undefined ? answer === opts.expect : /^y(es)?$/i.test(answer);
}
