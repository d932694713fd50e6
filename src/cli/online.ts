/**
 * @module cli/online
 * The online CLI: commands that ask a running sidecar over its HTTP API, in the spirit of
 * `incus config uefi` (show / get / set / unset on an instance's variables), plus Secure Boot,
 * backups, restore, fleet rotations and orphaned replicas:
 *
 *   instance list | show UUID | variables UUID [--v2] | get UUID NAME | set UUID NAME=HEX |
 *            unset UUID NAME | secure-boot UUID | enroll UUID --keyset K [--queue] |
 *            backups UUID | backup UUID | restore UUID GENERATION
 *   rotation list | show ID | start (--keyset K | --remove-db S ...) (--all | --instance U ... | --kek-lacks S ...)
 *   replicas list [--all] | prune [UUID ...] [--yes]
 *
 * Every command takes `--url`, `--token`, `--config-file` (config/client says which wins) and
 * `--json` (the sidecar's answer as it came, for scripts). Long operations (a restore, a
 * rotation) say what they are doing on stderr; stdout carries only the result. Exit codes are
 * cli/client's `EXIT`. Nothing here exits the process: each action leaves its code in `out`.
 */
import { Command, Option } from 'commander';
import { CliError, EXIT } from './client';
import { UsageError, type CliIo } from './args';
import { powerStateName } from '../nova/powerState';
import type {
  InstanceListBody,
  InstanceViewBody,
  NvramBackupListBody,
  NvramEditResultBody,
  NvramRestoreResultBody,
  SecureBootRotationBody,
  SecureBootRotationRequestBody,
  SecureBootSummaryBody,
  SecureBootWriteResultBody,
  Schemas,
} from '../wire';
import { EXIT_HELP, guidOf, json, onlineKit, secureBootText, summary, table, uuidArg, type Common, type Kit, type OnlineEnv } from './onlineKit';

export type { OnlineEnv } from './onlineKit';

type Variable = Schemas['NvramVariable'];
type Orphans = Schemas['ReplicaOrphans'];
type Prune = Schemas['ReplicaPruneResult'];

function rotationLine(r: SecureBootRotationBody): string {
  const counts = Object.entries(r.counts)
    .filter(([, n]) => n)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  return `rotation ${r.rotation_id}: ${r.status}, ${r.done}/${r.total} instances${counts ? ` (${counts})` : ''}`;
}

function orphansText(o: Orphans, all: boolean): string {
  let text = `replica store ${o.backend}: ${o.orphans.length} orphaned instance${o.orphans.length === 1 ? '' : 's'}\n`;
  if (o.orphans.length) {
    text += table(
      ['INSTANCE', 'GENERATIONS', 'CLAIMS', 'OWNER', 'WHY'],
      o.orphans.map((x) => [x.instance_uuid, x.generations.join(',') || '-', String(x.claims.length), x.owner ?? '-', x.why]),
    );
  }
  if (all && o.kept.length)
    text += `kept:\n${table(
      ['INSTANCE', 'WHY'],
      o.kept.map((k) => [k.instance_uuid, k.why]),
    )}`;
  return text;
}

export function onlineCommands(io: CliIo, out: { code: number }, opts: OnlineEnv = {}): Command[] {
  const k = onlineKit(io, out, opts);
  return [instanceCommand(k), rotationCommand(k), replicasCommand(k)];
}

/** `instance ...`: an instance's firmware, variables, Secure Boot and backups. */
function instanceCommand(k: Kit): Command {
  const { io, client, emit, leaf } = k;
  const instance = new Command('instance')
    .description("ask a running sidecar about an instance's firmware and UEFI variables")
    .usage('<command> [options]')
    .addHelpText('after', EXIT_HELP);
  leaf(instance.command('list').description('the instances this sidecar knows, with their power state'), async (o: Common) => {
    const r = await client(o).call<InstanceListBody>('GET', '/v1/instances');
    emit(o, r, () =>
      table(
        ['UUID', 'NAME', 'POWER'],
        r.instances.map((i) => [i.uuid || '-', i.name, powerStateName(i.power_state)]),
      ),
    );
  });
  leaf(
    instance.command('show').description('power state, firmware and variable store').argument('<UUID>', 'instance uuid', uuidArg),
    async (uuid: string, o: Common) => {
      const v = await client(o).call<InstanceViewBody>('GET', `/v1/instances/${uuid}`);
      emit(o, v, () => {
        const fw = v.firmware;
        const lines = [
          `instance: ${v.instance_uuid}`,
          `name: ${v.instance_name}`,
          `power state: ${powerStateName(v.power_state)}`,
          ...(v.vm_state ? [`vm state: ${v.vm_state}`] : []),
          `firmware: ${fw ? `${fw.loader}${fw.secure ? ' (Secure Boot)' : ''}${fw.stateless ? ' (stateless)' : ''}` : 'BIOS'}`,
          ...(fw?.nvram_template ? [`template: ${fw.nvram_template}`] : []),
          `variable store: ${v.nvram ? `${v.nvram.path} (${v.nvram.size} bytes, sha256 ${v.nvram.sha256})` : 'none'}`,
          ...(v.nvram?.replica ? [`replicas: ${v.nvram.replica.state}${v.nvram.replica.generation ? `, generation ${v.nvram.replica.generation}` : ''}`] : []),
          ...(v.warnings ?? []).map((w) => `warning: ${w}`),
        ];
        return lines.join('\n') + '\n';
      });
    },
  );
  leaf(
    instance
      .command('variables')
      .description("the store's variables, decoded (--v2: the virt-fw-vars / QEMU uefi-vars interchange format)")
      .argument('<UUID>', 'instance uuid', uuidArg)
      .option('--v2', 'the version-2 interchange format (JSON)'),
    async (uuid: string, o: Common & { v2?: boolean }) => {
      const r = await client(o).call<{ variables: Variable[] }>('GET', `/v1/instances/${uuid}/nvram/variables${o.v2 ? '?format=v2' : ''}`);
      if (o.v2) return void io.stdout.write(json(r));
      emit(o, r, () =>
        table(
          ['NAME', 'GUID', 'ATTR', 'BYTES', 'VALUE'],
          r.variables.map((v) => [v.name, v.guid, (v.attr_names ?? []).join(',') || String(v.attr), String(v.data.length / 2), summary(v)]),
        ),
      );
    },
  );
  variableCommands(instance, k);
  protectionCommands(instance, k);
  return instance;
}

/** `instance get | set | unset`: one variable. */
function variableCommands(instance: Command, k: Kit): void {
  const { client, emit, leaf } = k;
  const guidOpt = () => new Option('--guid <GUID>', 'vendor GUID or a well-known name').default('EfiGlobalVariable');
  leaf(
    instance.command('get').description("one variable's value, hex").argument('<UUID>', 'instance uuid', uuidArg).argument('<NAME>').addOption(guidOpt()),
    async (uuid: string, name: string, o: Common & { guid: string }) => {
      const guid = guidOf(o.guid);
      const r = await client(o).call<{ variables: Variable[] }>('GET', `/v1/instances/${uuid}/nvram/variables`);
      const v = r.variables.find((x) => x.name === name && x.guid === guid);
      if (!v) throw new CliError(`instance ${uuid} has no variable ${name} (${o.guid})`, EXIT.NOT_FOUND);
      emit(o, v, () => `${v.data}\n`);
    },
  );
  leaf(
    instance
      .command('set')
      .description('set one variable (shut-off guests only); keeps its attributes unless --attr is given')
      .argument('<UUID>', 'instance uuid', uuidArg)
      .argument('<NAME=HEX>')
      .addOption(guidOpt())
      .option('--attr <N>', "EFI_VARIABLE_* bits (default: the existing variable's, 7 for a new one)"),
    async (uuid: string, assign: string, o: Common & { guid: string; attr?: string }) => {
      const m = /^([^=]+)=((?:[0-9a-fA-F]{2})*)$/.exec(assign);
      if (!m) throw new UsageError(`'${assign}' is not NAME=HEX`);
      const attr = o.attr === undefined ? undefined : Number(o.attr);
      if (attr !== undefined && !(Number.isInteger(attr) && attr > 0 && attr < 256)) throw new UsageError(`--attr: '${o.attr}' is not a number from 1 to 255`);
      const r = await client(o).call<NvramEditResultBody>('PUT', `/v1/instances/${uuid}/nvram/variables/${guidOf(o.guid)}/${encodeURIComponent(m[1])}`, {
        data: m[2],
        ...(attr === undefined ? {} : { attr }),
      });
      emit(o, r, () => `${m[1]} set (${m[2].length / 2} bytes); store sha256 ${r.nvram.sha256}\n`);
    },
  );
  leaf(
    instance
      .command('unset')
      .description('delete one variable (shut-off guests only)')
      .argument('<UUID>', 'instance uuid', uuidArg)
      .argument('<NAME>')
      .addOption(guidOpt()),
    async (uuid: string, name: string, o: Common & { guid: string }) => {
      const r = await client(o).call<NvramEditResultBody>('DELETE', `/v1/instances/${uuid}/nvram/variables/${guidOf(o.guid)}/${encodeURIComponent(name)}`);
      emit(o, r, () => `${name} deleted; store sha256 ${r.nvram.sha256}\n`);
    },
  );
}

/** `instance secure-boot | enroll | backups | backup | restore`: keys and replicas of one instance. */
function protectionCommands(instance: Command, k: Kit): void {
  const { client, emit, progress, leaf } = k;
  leaf(
    instance.command('secure-boot').description('Secure Boot state, enrolled keys, key set and queued changes').argument('<UUID>', 'instance uuid', uuidArg),
    async (uuid: string, o: Common) => {
      const r = await client(o).call<SecureBootSummaryBody>('GET', `/v1/instances/${uuid}/nvram/secure-boot`);
      emit(o, r, () => secureBootText(r));
    },
  );
  leaf(
    instance
      .command('enroll')
      .description('enroll a key set (shut-off guests at once; running ones with --queue, at their next cold boot)')
      .argument('<UUID>', 'instance uuid', uuidArg)
      .requiredOption('--keyset <NAME>', "a key set the sidecar offers ('debian' is built in)")
      .option('--queue', 'queue the change for a running guest'),
    async (uuid: string, o: Common & { keyset: string; queue?: boolean }) => {
      const r = await client(o).call<SecureBootWriteResultBody>('PUT', `/v1/instances/${uuid}/nvram/secure-boot${o.queue ? '?queue=true' : ''}`, {
        keyset: o.keyset,
      });
      emit(o, r, () =>
        r.queued ? `key set ${o.keyset} queued for the next cold boot of ${uuid}\n` : `key set ${o.keyset} enrolled\n${secureBootText(r.secure_boot)}`,
      );
    },
  );
  leaf(
    instance.command('backups').description('the generations of the store in the replica store, newest first').argument('<UUID>', 'instance uuid', uuidArg),
    async (uuid: string, o: Common) => {
      const r = await client(o).call<NvramBackupListBody>('GET', `/v1/instances/${uuid}/nvram/backups`);
      emit(o, r, () =>
        r.backups.length
          ? table(
              ['GENERATION', 'TIME', 'REASON', 'HOST', 'BYTES', 'SHA256'],
              r.backups.map((b) => [String(b.generation), b.time, b.reason ?? '-', b.host, String(b.size), b.sha256.slice(0, 16)]),
            )
          : `no generations of ${uuid}\n`,
      );
    },
  );
  leaf(
    instance.command('backup').description('write a generation now (answers once it was read back)').argument('<UUID>', 'instance uuid', uuidArg),
    async (uuid: string, o: Common) => {
      progress(`writing a generation of ${uuid} to the replica store...`);
      const r = await client(o).call<{ backup: Schemas['NvramBackup'] }>('POST', `/v1/instances/${uuid}/nvram/backups`);
      emit(o, r, () => `generation ${r.backup.generation} written (${r.backup.size} bytes, sha256 ${r.backup.sha256})\n`);
    },
  );
  leaf(
    instance
      .command('restore')
      .description('replace the store with one generation (shut-off guests only; verified before anything is written)')
      .argument('<UUID>', 'instance uuid', uuidArg)
      .argument('<GENERATION>', 'from `instance backups`', (s: string) => {
        if (!/^[1-9]\d{0,14}$/.test(s)) throw new UsageError(`'${s}' is not a generation number`);
        return Number(s);
      }),
    async (uuid: string, generation: number, o: Common) => {
      progress(`restoring generation ${generation} of ${uuid}: reading and verifying it...`);
      const r = await client(o).call<NvramRestoreResultBody>('POST', `/v1/instances/${uuid}/nvram/restore`, { generation });
      if (!r.nvram) {
        // No store on that host (shelved-offloaded, or waiting to be evacuated): the choice is pinned.
        progress(`pinned: the next unshelve or evacuate of ${uuid} restores generation ${r.restored.generation}`);
        emit(o, r, () => `${uuid}: generation ${r.restored.generation} pinned for the next unshelve or evacuate\n`);
        return;
      }
      const now = r.nvram;
      progress(`restored: the store now holds generation ${r.restored.generation} written by ${r.restored.host} at ${r.restored.time}`);
      emit(o, r, () => `${now.path}: generation ${r.restored.generation} (sha256 ${now.sha256})\n`);
    },
  );
}

/** `rotation ...`: Secure Boot key rotations across the instances of the sidecar. */
function rotationCommand(k: Kit): Command {
  const { opts, client, emit, progress, leaf } = k;
  const rotation = new Command('rotation')
    .description('Secure Boot key rotations across the instances of a running sidecar')
    .usage('<command> [options]')
    .addHelpText('after', EXIT_HELP);
  leaf(rotation.command('list').description('every rotation, newest first'), async (o: Common) => {
    const r = await client(o).call<{ rotations: SecureBootRotationBody[] }>('GET', '/v1/host/secure-boot/rotations');
    emit(o, r, () => (r.rotations.length ? r.rotations.map(rotationLine).join('\n') + '\n' : 'no rotations\n'));
  });
  leaf(rotation.command('show').description("a rotation's progress and per-instance outcomes").argument('<ID>'), async (id: string, o: Common) => {
    const r = await client(o).call<SecureBootRotationBody>('GET', `/v1/host/secure-boot/rotations/${encodeURIComponent(id)}`);
    emit(
      o,
      r,
      () =>
        `${rotationLine(r)}\n${table(
          ['INSTANCE', 'OUTCOME', 'DETAIL'],
          r.instances.map((i) => [i.instance_uuid, i.outcome, i.detail ?? '']),
        )}`,
    );
  });
  const many = (v: string, prev: string[]) => [...prev, v];
  leaf(
    rotation
      .command('start')
      .description('add a key set and/or remove keys on a selection of instances, and follow its progress on stderr')
      .option('--id <ID>', 'rotation id (a second start with it answers the first)')
      .option('--keyset <NAME>', 'add this key set')
      .option('--databases <LIST>', 'of the key set, only these (KEK,db,dbx)')
      .option('--remove-kek <SUBJECT>', 'remove KEK certificates whose subject contains this (repeatable)', many, [])
      .option('--remove-db <SUBJECT>', 'remove db certificates whose subject contains this (repeatable)', many, [])
      .option('--all', 'every instance')
      .option('--instance <UUID>', 'this instance (repeatable)', many, [])
      .option('--kek-lacks <TEXT>', 'instances with no KEK certificate whose subject contains this')
      .option('--db-lacks <TEXT>', 'instances with no db certificate whose subject contains this')
      .option('--include-setup-mode', 'also change instances in setup mode (no PK)')
      .option('--include-secure-boot-off', 'also change instances with Secure Boot off')
      .option('--no-wait', 'answer once the rotation is accepted'),
    async (
      o: Common & {
        id?: string;
        keyset?: string;
        databases?: string;
        removeKek: string[];
        removeDb: string[];
        all?: boolean;
        instance: string[];
        kekLacks?: string;
        dbLacks?: string;
        includeSetupMode?: boolean;
        includeSecureBootOff?: boolean;
        wait: boolean;
      },
    ) => {
      const picks = [o.all, o.instance.length > 0, o.kekLacks !== undefined || o.dbLacks !== undefined].filter(Boolean).length;
      if (picks !== 1) throw new UsageError('choose the instances with exactly one of --all, --instance UUID ..., --kek-lacks/--db-lacks TEXT');
      if (o.keyset === undefined && !o.removeKek.length && !o.removeDb.length)
        throw new UsageError('nothing to change: give --keyset and/or --remove-kek/--remove-db');
      const where: Record<string, string> = {};
      if (o.kekLacks !== undefined) where.kek_lacks = o.kekLacks;
      if (o.dbLacks !== undefined) where.db_lacks = o.dbLacks;
      const body: SecureBootRotationRequestBody = {
        ...(o.id ? { rotation_id: o.id } : {}),
        ...(o.keyset ? { add: { keyset: o.keyset, ...(o.databases ? { databases: o.databases.split(',') as ('KEK' | 'db' | 'dbx')[] } : {}) } } : {}),
        ...(o.removeKek.length || o.removeDb.length
          ? { remove: { ...(o.removeKek.length ? { kek: o.removeKek } : {}), ...(o.removeDb.length ? { db: o.removeDb } : {}) } }
          : {}),
        selection: o.all ? { all: true } : o.instance.length ? { instances: o.instance.map(uuidArg) } : { where },
        ...(o.includeSetupMode ? { include_setup_mode: true } : {}),
        ...(o.includeSecureBootOff ? { include_secure_boot_off: true } : {}),
      };
      const c = client(o);
      let r = await c.call<SecureBootRotationBody>('POST', '/v1/host/secure-boot/rotations', body);
      let last = rotationLine(r);
      progress(last);
      while (o.wait && r.status === 'running') {
        await new Promise((res) => setTimeout(res, opts.pollMs ?? 1000));
        r = await c.call<SecureBootRotationBody>('GET', `/v1/host/secure-boot/rotations/${encodeURIComponent(r.rotation_id)}`);
        const line = rotationLine(r);
        if (line !== last) progress((last = line));
      }
      emit(o, r, () => `${rotationLine(r)}\n`);
      if (r.status === 'done' && (r.counts.failed ?? 0) > 0)
        throw new CliError(`${r.counts.failed} instance(s) failed: see rotation show ${r.rotation_id}`, EXIT.REFUSED);
    },
  );
  return rotation;
}

/** `replicas ...`: orphaned replicas. */
function replicasCommand(k: Kit): Command {
  const { client, emit, progress, leaf } = k;
  const replicas = new Command('replicas')
    .description('orphaned replicas: generations whose instance no longer exists anywhere')
    .usage('<command> [options]')
    .addHelpText('after', EXIT_HELP);
  leaf(
    replicas
      .command('list')
      .description('the orphaned instances in the replica store, their generations and claims')
      .option('--all', 'also the instances kept, and why'),
    async (o: Common & { all?: boolean }) => {
      const r = await client(o).call<Orphans>('GET', '/v1/replicas/orphans');
      emit(o, r, () => orphansText(r, o.all === true));
    },
  );
  leaf(
    replicas
      .command('prune')
      .description('remove orphaned generations and claims: a dry run unless --yes')
      .argument('[UUID...]', 'only these orphaned instances (default: every orphan)')
      .option('--yes', 'remove them (without it nothing is removed)'),
    async (uuids: string[], o: Common & { yes?: boolean }) => {
      const only = uuids.map(uuidArg);
      if (o.yes) progress('removing orphaned replicas...');
      const r = await client(o).call<Prune>('POST', '/v1/replicas/orphans/prune', { dry_run: o.yes !== true, ...(only.length ? { instances: only } : {}) });
      emit(o, r, () => {
        const rows = r.orphans.map((x) => [x.instance_uuid, x.generations.join(',') || '-', String(x.claims.length), x.why]);
        const head = r.dry_run
          ? `dry run: ${r.orphans.length} orphaned instance(s) would be removed (again with --yes to remove them)\n`
          : `removed ${r.removed.length} orphaned instance(s), ${r.removed.reduce((n, x) => n + x.objects, 0)} objects\n`;
        return head + (rows.length ? table(['INSTANCE', 'GENERATIONS', 'CLAIMS', 'WHY'], rows) : '');
      });
    },
  );
  return replicas;
}
