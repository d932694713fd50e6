/**
 * @module cli/doctor
 * `nova-uefi-shim doctor [--config-file FILE] [--json]`: run the host checks
 * (`service/doctor`) and print one line per check, `OK`, `WARN` or `FAIL`, with the option
 * to change; or, with `--json`, `{"ok": ..., "checks": [...]}`. Exit code 0 when nothing
 * failed (warnings allowed), 1 otherwise.
 */
import { Command } from 'commander';
import type { CliIo } from './args';
import { runDoctor, type DoctorCheck, type DoctorOptions } from '../service/doctor';

export function formatChecks(checks: readonly DoctorCheck[]): string {
  return checks.map((c) => `${c.status.padEnd(4)} ${c.check}: ${c.message}${c.option ? ` [change: ${c.option}]` : ''}\n`).join('');
}

/** Run the checks and print them; resolves to the exit code. */
export async function doctor(opts: DoctorOptions & { json?: boolean }, io: CliIo): Promise<number> {
  let checks: DoctorCheck[];
  try {
    checks = await runDoctor(opts);
  } catch (e) {
    // A check that broke is itself a finding: one line, never a stack trace.
    checks = [{ check: 'doctor', status: 'FAIL', message: `a check failed to run: ${e instanceof Error ? e.message : String(e)}`, option: 'report this' }];
  }
  const good = !checks.some((c) => c.status === 'FAIL');
  io.stdout.write(opts.json ? `${JSON.stringify({ ok: good, checks }, null, 2)}\n` : formatChecks(checks));
  return good ? 0 : 1;
}

export function doctorCommand(io: CliIo, out: { code: number }, opts: Pick<DoctorOptions, 'hostArch'> = {}): Command {
  return new Command('doctor')
    .description("check this host's set-up before it takes guests: firmware, directories, libvirt, peers, the replica store (exit 1 when a check fails)")
    .option('--config-file <FILE>', 'the configuration to check (default: the built-in defaults)')
    .option('--json', 'JSON output')
    .action(async (o: { configFile?: string; json?: boolean }) => {
      out.code = await doctor({ ...opts, configFile: o.configFile, json: o.json }, io);
    });
}
