/**
 * The zretry command: parses the command line (src/cli/program.ts), runs
 * the command, and turns every failure into one line on stderr and an exit
 * code: 0 done, 1 failed, 2 usage (src/cli/exit.ts).
 */
import { CommanderError } from 'commander';
import { terminal } from './confirm.js';
import { EXIT, errorText, exitCode } from './exit.js';
import { buildProgram } from './program.js';

export { parseDuration } from '../ops/actions.js';

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[], env = process.env): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(
    { env, out: (s) => console.log(s), err: (s) => console.error(s), asker: terminal },
    (c) => (code = c),
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    // commander has printed its message (a usage error, or help and --version)
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return reportError(e);
  }
}

/** Prints an error in one line a person can act on and returns the exit code. */
export function reportError(e: unknown): number {
  console.error(`zretry: ${errorText(e)}`);
  return exitCode(e);
}
