/**
 * @module cli/replica
 * `nova-uefi-shim replica pin --config-file FILE --instance UUID --generation N`: an operator's
 * explicit choice of an older generation for the next restore (unshelve, evacuate) of an
 * instance whose newest generation cannot be restored. Writes the pin into the replicas'
 * signed index with the configured key and store (the same as `POST
 * /v1/instances/{uuid}/nvram/restore {"generation": N}` for an instance with no store on the
 * host); the sidecar that restores logs it and counts it. Exit code 0 when pinned, 1 otherwise.
 */
import { Command } from 'commander';
import { hostname } from 'node:os';
import { USAGE_EXIT, type CliIo } from './args';
import { loadConfigFile, ConfigError } from '../config';
import { openReplicas } from '../replica';
import { validateUuid } from '../nova/ids';

export async function pinGeneration(o: { configFile: string; instance: string; generation: string }, io: CliIo): Promise<number> {
  const generation = Number(o.generation);
  if (!Number.isSafeInteger(generation) || generation < 1) {
    io.stderr.write('nova-uefi-shim replica pin: --generation: must be a positive integer\n');
    return USAGE_EXIT;
  }
  try {
    const uuid = validateUuid(o.instance);
    const config = loadConfigFile(o.configFile);
    const log = openReplicas(config);
    if (!log) throw new Error(`${o.configFile}: [replica] backend = none: there are no replicas to pin`);
    const before = await log.list(uuid);
    const r = await log.pin(uuid, generation, `nova-uefi-shim replica pin on ${hostname()}`);
    const newest = before.length ? before[before.length - 1].generation : 0;
    io.stdout.write(
      `pinned generation ${generation} of ${uuid} (written ${r.header.time} by ${r.header.host}; newest ${newest}): ` +
        `its next unshelve or evacuate restores it\n`,
    );
    return 0;
  } catch (e) {
    const msg = e instanceof ConfigError ? e.problems.join('; ') : e instanceof Error ? e.message : String(e);
    io.stderr.write(`nova-uefi-shim replica pin: ${msg}\n`);
    return 1;
  }
}

export function replicaCommand(io: CliIo, out: { code: number }): Command {
  const replica = new Command('replica').description('operator actions on the NVRAM replicas').usage('<command> [options]');
  replica
    .command('pin')
    .description("restore an older generation at an instance's next unshelve or evacuate (when its newest cannot be restored)")
    .requiredOption('--config-file <FILE>', 'the sidecar configuration ([replica] backend and keys)')
    .requiredOption('--instance <UUID>', 'the instance')
    .requiredOption('--generation <N>', 'the generation to restore (GET /v1/instances/{uuid}/nvram/backups lists them)')
    .action(async (o: { configFile: string; instance: string; generation: string }) => {
      out.code = await pinGeneration(o, io);
    });
  return replica;
}
