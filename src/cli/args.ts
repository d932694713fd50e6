/**
 * @module cli/args
 * The command line through commander: every command and subcommand is set up here to write
 * to injected streams (tests run the CLI in-process), never to exit the process, and to
 * report a usage problem as one line in the sidecar's words (`missing FILE`, `unknown option
 * --nope`, `unexpected argument 'x'`) with exit code 2. `--help` works on every command.
 */
import { Command, CommanderError, type OutputConfiguration } from 'commander';

/** A usage problem found after parsing (a value of the wrong form): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** Exit code of a usage problem (commander's own is 1, which `diff` and `doctor` use for results). */
export const USAGE_EXIT = 2;

/**
 * Set up `cmd` and its subcommands (including ones added later with `addCommand`, when
 * called again): output to `io`, errors thrown as `CommanderError` instead of exiting,
 * commander's own error line suppressed (the caller prints ours), `usage:` in lower case as
 * in the rest of the sidecar's messages.
 */
export function prepare(cmd: Command, io: CliIo): Command {
  const output: OutputConfiguration = {
    writeOut: (s) => void io.stdout.write(s),
    writeErr: (s) => void io.stderr.write(s),
    outputError: () => undefined,
  };
  cmd
    .exitOverride()
    .configureOutput(output)
    .configureHelp({ styleTitle: (s) => (s === 'Usage:' ? 'usage:' : s), showGlobalOptions: false });
  for (const sub of cmd.commands) prepare(sub, io);
  return cmd;
}

/** Is this a commander outcome that only displayed help or a version (exit 0)? */
export function isHelpShown(e: unknown): boolean {
  return e instanceof CommanderError && (e.code === 'commander.helpDisplayed' || e.code === 'commander.version');
}

/**
 * One line for a commander parse error, in the words the sidecar always used. `cmd` is the
 * (sub)command that was parsing, for the argument it did not expect.
 */
export function usageMessage(e: CommanderError, cmd?: Command): string {
  const quoted = /'([^']*)'/.exec(e.message)?.[1] ?? '';
  const flag = quoted.split(/[ ,]/)[0];
  switch (e.code) {
    case 'commander.missingArgument':
      return `missing ${quoted}`;
    case 'commander.missingMandatoryOptionValue':
      return `missing ${flag}`;
    case 'commander.optionMissingArgument':
      return `option ${flag} needs a value`;
    case 'commander.unknownOption':
      return `unknown option ${quoted}`;
    case 'commander.unknownCommand':
      return `unknown command '${quoted}'`;
    case 'commander.excessArguments': {
      const extra = cmd?.args[cmd.registeredArguments.length];
      return extra === undefined ? 'too many arguments' : `unexpected argument '${extra}'`;
    }
    default:
      return e.message.replace(/^error: /, '');
  }
}

/** The subcommand of `parent` named by the first non-option word of `argv`, if any. */
export function subcommandIn(parent: Command, argv: readonly string[]): Command | undefined {
  const name = argv.find((a) => !a.startsWith('-'));
  return parent.commands.find((c) => c.name() === name || c.aliases().includes(name ?? ''));
}
