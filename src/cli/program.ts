/**
 * @module cli/program
 * The `nova-uefi-shim` command line (commander): `serve` (the default: the sidecar itself,
 * `[--config-file PATH]`), `doctor` and `nvram`, each with `--help`. Parsing only: it says
 * what to run (`serve` is started by `main.ts`, which owns the process) or runs a one-shot
 * command and gives its exit code. Usage problems are one line on stderr and exit code 2.
 */
import { Command, CommanderError } from 'commander';
import { isHelpShown, prepare, subcommandIn, usageMessage, USAGE_EXIT, type CliIo } from './args';
import { nvramCommand, nvramFailure } from './nvram';
import { doctorCommand } from './doctor';
import { replicaCommand } from './replica';

export type CliOutcome = { serve: { configFile?: string } } | { exit: number };

export async function runCli(argv: readonly string[], io: CliIo = process): Promise<CliOutcome> {
  const out = { code: 0 };
  let serve: { configFile?: string } | undefined;
  const nvram = nvramCommand(io, out);
  const program = new Command('nova-uefi-shim')
    .description('Sidecar for nova-compute: UEFI firmware selection and NVRAM variable stores through every Nova operation')
    .usage('[serve] [--config-file PATH] | doctor [options] | replica pin [options] | nvram <command> [options]')
    .addHelpText('after', '\nWithout a command the sidecar runs (serve). Signals: SIGHUP reloads the config file, SIGTERM stops gracefully.\n')
    .addCommand(
      new Command('serve')
        .description('run the sidecar (the default command)')
        .option('--config-file <PATH>', 'INI configuration (default: the built-in defaults)')
        .action((o: { configFile?: string }) => {
          serve = o.configFile === undefined ? {} : { configFile: o.configFile };
        }),
      { isDefault: true },
    )
    .addCommand(doctorCommand(io, out))
    .addCommand(replicaCommand(io, out))
    .addCommand(nvram);
  prepare(program, io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (isHelpShown(e)) return { exit: 0 };
    if (argv.find((a) => !a.startsWith('-')) === 'nvram') return { exit: nvramFailure(e, nvram, argv.slice(argv.indexOf('nvram') + 1), io) };
    if (!(e instanceof CommanderError)) throw e;
    if (e.code === 'commander.help') return { exit: USAGE_EXIT };
    const sub = subcommandIn(program, argv) ?? program.commands.find((c) => c.name() === 'serve');
    io.stderr.write(`nova-uefi-shim: ${usageMessage(e, sub)} (see: nova-uefi-shim --help)\n`);
    return { exit: USAGE_EXIT };
  }
  return serve ? { serve } : { exit: out.code };
}
