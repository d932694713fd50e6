/**
 * @module cli/program
 * The `nova-uefi-shim` command line (commander): `serve` (the default: the sidecar itself,
 * `[--config-file PATH]`), `doctor`, `nvram` (offline store files), and the online commands
 * that ask a running sidecar (`instance`, `rotation`, `replicas`: cli/online), each with
 * `--help`; `--version`. Parsing only: it says what to run (`serve` is started by `main.ts`,
 * which owns the process) or runs a one-shot command and gives its exit code. Usage problems
 * are one line on stderr and exit code 2; the online commands' codes are cli/client's.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { isHelpShown, prepare, subcommandIn, usageMessage, UsageError, USAGE_EXIT, type CliIo } from './args';
import { onlineCommands, type OnlineEnv } from './online';
import { CliError } from './client';
import { nvramCommand, nvramFailure } from './nvram';
import { doctorCommand } from './doctor';

export type CliOutcome = { serve: { configFile?: string } } | { exit: number };

/** The package's version (package.json above this module: src/cli under tsx, dist/cli when built). */
export function packageVersion(from = __dirname): string {
  for (let d = from; path.dirname(d) !== d; d = path.dirname(d)) {
    const f = path.join(d, 'package.json');
    if (existsSync(f)) return String((JSON.parse(readFileSync(f, 'utf8')) as { version?: unknown }).version ?? 'unknown');
  }
  return 'unknown';
}

export async function runCli(argv: readonly string[], io: CliIo = process, env: OnlineEnv = {}): Promise<CliOutcome> {
  const out = { code: 0 };
  let serve: { configFile?: string } | undefined;
  const nvram = nvramCommand(io, out);
  const online = onlineCommands(io, out, env);
  const program = new Command('nova-uefi-shim')
    .description('Sidecar for nova-compute: UEFI firmware selection and NVRAM variable stores through every Nova operation')
    .usage('[serve] [--config-file PATH] | doctor [options] | nvram <command> [options] | instance|rotation|replicas <command> [options]')
    .version(packageVersion(), '-V, --version', 'print the version')
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
    .addCommand(nvram);
  for (const c of online) program.addCommand(c);
  prepare(program, io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (isHelpShown(e)) return { exit: 0 };
    const first = argv.find((a) => !a.startsWith('-'));
    if (first === 'nvram') return { exit: nvramFailure(e, nvram, argv.slice(argv.indexOf('nvram') + 1), io) };
    const group = online.find((c) => c.name() === first);
    if (group) return { exit: onlineFailure(e, group, argv.slice(argv.indexOf(group.name()) + 1), io) };
    if (!(e instanceof CommanderError)) throw e;
    if (e.code === 'commander.help') return { exit: USAGE_EXIT };
    const sub = subcommandIn(program, argv) ?? program.commands.find((c) => c.name() === 'serve');
    io.stderr.write(`nova-uefi-shim: ${usageMessage(e, sub)} (see: nova-uefi-shim --help)\n`);
    return { exit: USAGE_EXIT };
  }
  return serve ? { serve } : { exit: out.code };
}

/** After an online command failed: one line on stderr naming the command, and its exit code. Never throws. */
function onlineFailure(e: unknown, group: Command, argv: readonly string[], io: CliIo): number {
  if (isHelpShown(e)) return 0;
  const sub = subcommandIn(group, argv);
  const where = sub ? `${group.name()} ${sub.name()}` : group.name();
  const see = ` (see: nova-uefi-shim ${where} --help)`;
  if (e instanceof CommanderError) {
    if (e.code === 'commander.help') return USAGE_EXIT;
    io.stderr.write(`${where}: ${usageMessage(e, sub ?? group)}${see}\n`);
    return USAGE_EXIT;
  }
  if (e instanceof UsageError) {
    io.stderr.write(`${where}: ${e.message}${see}\n`);
    return USAGE_EXIT;
  }
  if (e instanceof CliError) {
    io.stderr.write(`${where}: ${e.message.replace(/\s*\n\s*/g, ' ')}\n`);
    return e.exit;
  }
  io.stderr.write(`${where}: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
  return 1;
}
