// Entry point of the `autosam` command: dispatches to src/cli/commands/<name>.ts.
import { AutosamError, UsageError } from '../errors.js';
import type { Command } from './command.js';
import { infoCommand } from './commands/info.js';
import { checkCommand } from './commands/check.js';
import { dataCommand } from './commands/data.js';
import { embedCommand } from './commands/embed.js';
import { trainCommand } from './commands/train.js';
import { evalCommand } from './commands/eval.js';
import { predictCommand } from './commands/predict.js';
import { experimentCommand } from './commands/experiment.js';
import { serveCommand } from './commands/serve.js';

const commands: Command[] = [infoCommand, checkCommand, dataCommand, embedCommand, trainCommand, evalCommand, predictCommand, experimentCommand, serveCommand];

const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory, expected a file',
  ENOTDIR: 'a part of the path is not a directory',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
};

function usage(): string {
  const lines = commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return ['usage: autosam <command> [options]', '', 'commands:', ...lines, '', 'Run `autosam <command> --help` for its options.'].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`autosam: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof AutosamError) {
      console.error(`autosam ${name}: ${err.name}: ${err.message}`);
      return err instanceof UsageError ? 2 : 1;
    }
    // A file the user named that cannot be read or written: say which and why, without a stack trace.
    const fsError = err as NodeJS.ErrnoException;
    if (fsError && typeof fsError.code === 'string' && typeof fsError.path === 'string' && FILE_ERRORS[fsError.code]) {
      console.error(`autosam ${name}: ${fsError.path}: ${FILE_ERRORS[fsError.code]}`);
      return 1;
    }
    throw err;
  }
}
