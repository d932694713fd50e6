/**
 * @module cli/nvram
 * `nova-uefi-shim nvram <command>`: inspect and edit edk2 variable store files offline.
 *
 *   show FILE [--json] [--deleted]        list variables (decoded), optionally deleted records
 *   diff A B [--json]                     added/removed/changed variables; exit 1 when different
 *   set FILE --name N --guid G [--attr A] --data HEX [--output OUT]
 *                                         --attr defaults to the existing variable's attributes
 *                                         (required only for a new variable)
 *   delete FILE --name N --guid G [--output OUT]
 *   export FILE [--output JSON]           version-2 JSON (stdout by default)
 *   import FILE JSON [--output OUT]       replace the variable set with the JSON's
 *   secure-boot FILE [--json]             derived Secure Boot state and enrolled keys
 *   enroll FILE [key options] [--output OUT]
 *                                         set/add/remove PK, KEK, db, dbx entries or enroll a
 *                                         key set, as edk2 leaves an authenticated write; the
 *                                         built-in key set (`debian`, this host's enrolled
 *                                         template) needs no configuration file
 *
 * Edits go to FILE in place unless --output is given, through `writeFileAtomic` (temp file,
 * every byte, fsync, read back, rename: all or nothing), keeping the file mode (and owner,
 * when run as root). A write that fails (full disk, read-only, I/O error) exits 1 naming the
 * file and the cause, FILE unchanged. Only edit stores of VMs that are shut off.
 *
 * Exit codes: 0 success; 1 failure (one line on stderr naming the problem, never a stack
 * trace); 2 usage error. `diff` follows diff(1): 0 same, 1 different, 2 trouble. The I/O
 * streams are injected so tests run the CLI in-process; nothing here calls process.exit.
 * Arguments are parsed by commander (`nvramCommand`, also mounted by the main program);
 * `--help` works on every subcommand.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { writeFileAtomic } from '../util/atomicFile';
import { StorageError } from '../errors';
import {
  ATTR,
  deleteVariable,
  diffVariables,
  findVariable,
  exportJson,
  importJson,
  isEmptyDiff,
  parseVarStore,
  resolveGuid,
  secureBootSummary,
  setVariable,
  writeVarStore,
  VarStoreError,
  type Variable,
} from '../varstore';
import { Command, CommanderError } from 'commander';
import { isHelpShown, prepare, subcommandIn, usageMessage, USAGE_EXIT, UsageError, type CliIo } from './args';
import { diffText, secureBootText, showJson, storeHeaderText, variablesText } from './nvramFormat';
import { buildConfig, loadConfigFile, ConfigError, DEFAULT_CONFIG_FILE, type Config } from '../config';
import { discoverFirmware } from '../firmware/discover';
import { BUILTIN_KEYSET, enrolledTemplate, keyChangesFor, loadKeysets } from '../firmware/keysets';
import { hostArch } from '../firmware/machine';
import { applyKeyChanges, parseKeyMaterial, type KeyChange, type KeyChangeReport, type KeyDbName, type SignatureItem } from '../varstore';

export type { CliIo } from './args';

const NVRAM_NOTES = `
GUID: canonical form or a well-known name (EfiGlobalVariable, EfiImageSecurityDatabase, ...)
ATTR: a number (7, 0x27) or names joined by commas (NV,BS,RT,AT)
Edits replace FILE atomically unless --output is given. Only edit stores of VMs that are shut off.
`;

/** Where `enroll --keyset` finds the key sets: the configuration and this host's architecture (tests inject both). */
export interface NvramEnv {
  /** The configuration `--config-file` names, else the packaged file when it exists, else the built-in defaults. */
  config(file: string | undefined): Config;
  hostArch(): string;
}

const HOST_ENV: NvramEnv = {
  config: (file) =>
    file !== undefined
      ? loadConfigFile(file)
      : existsSync(DEFAULT_CONFIG_FILE)
        ? loadConfigFile(DEFAULT_CONFIG_FILE)
        : buildConfig({}, 'the built-in defaults'),
  hostArch: () => hostArch(),
};

/** A failure that is already worded for the user (exit 1). */
class CliFailure extends Error {}

const FS_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
};

function fsFailure(file: string, e: unknown): CliFailure {
  // The writer's error names the file, the failed step and the errno already.
  if (e instanceof StorageError) return new CliFailure(e.message);
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return new CliFailure(`${file}: ${FS_ERRORS[code] ?? (e as Error).message}`);
}

async function readInput(file: string): Promise<Buffer> {
  try {
    return await fsp.readFile(file);
  } catch (e) {
    throw fsFailure(file, e);
  }
}

function parseStore(file: string, buf: Buffer, includeDeleted = false) {
  try {
    return parseVarStore(buf, { includeDeleted });
  } catch (e) {
    if (e instanceof VarStoreError) throw new CliFailure(`${file}: ${e.message}`);
    throw e;
  }
}

/** Write atomically, keeping the mode (and owner when root) of the target, or of `like` for a new file. */
async function writeOutput(target: string, like: string, data: Buffer | string, defaultMode = 0o600): Promise<void> {
  let st: { mode: number; uid: number; gid: number } | undefined;
  for (const f of [target, like]) {
    st = await fsp.stat(f).catch(() => undefined);
    if (st) break;
  }
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  try {
    await writeFileAtomic(target, data, {
      verify: true,
      mode: st ? st.mode & 0o7777 : defaultMode,
      ...(root && st ? { uid: st.uid, gid: st.gid } : {}),
    });
  } catch (e) {
    throw fsFailure(target, e);
  }
}

const ATTR_BY_NAME: Record<string, number> = {
  NV: ATTR.NON_VOLATILE,
  BS: ATTR.BOOTSERVICE_ACCESS,
  RT: ATTR.RUNTIME_ACCESS,
  HR: ATTR.HARDWARE_ERROR_RECORD,
  AW: ATTR.AUTHENTICATED_WRITE_ACCESS,
  AT: ATTR.TIME_BASED_AUTHENTICATED_WRITE_ACCESS,
  AP: ATTR.APPEND_WRITE,
  EA: ATTR.ENHANCED_AUTHENTICATED_ACCESS,
};

export function parseAttr(s: string): number {
  if (/^(0x[0-9a-f]+|[0-9]+)$/i.test(s)) {
    const n = Number(s);
    if (n <= 0xffffffff) return n;
  } else if (/^[A-Za-z]{2}(,[A-Za-z]{2})*$/.test(s)) {
    let n = 0;
    for (const part of s.toUpperCase().split(',')) {
      if (ATTR_BY_NAME[part] === undefined) throw new UsageError(`--attr: unknown attribute '${part}' (NV, BS, RT, HR, AW, AT, AP, EA)`);
      n |= ATTR_BY_NAME[part];
    }
    return n >>> 0;
  }
  throw new UsageError(`--attr: '${s}' is not a number or a list like NV,BS,RT`);
}

function parseGuidOption(s: string): string {
  const g = resolveGuid(s);
  if (!g) throw new UsageError(`--guid: '${s}' is not a GUID or a well-known GUID name`);
  return g;
}

function parseHex(s: string): Buffer {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(s)) throw new UsageError('--data: must be a non-empty hex string of whole bytes');
  return Buffer.from(s, 'hex');
}

function json(x: unknown): string {
  return `${JSON.stringify(x, null, 2)}\n`;
}

interface Outcome {
  code: number;
}

async function show(file: string, o: { json?: boolean; deleted?: boolean }, io: CliIo): Promise<number> {
  const s = parseStore(file, await readInput(file), o.deleted === true);
  if (o.json) io.stdout.write(json(showJson(file, s)));
  else io.stdout.write(`${storeHeaderText(file, s)}\n\n${variablesText(s.variables, o.deleted === true)}\n`);
  return 0;
}

async function diff(a: string, b: string, o: { json?: boolean }, io: CliIo): Promise<number> {
  const d = diffVariables(parseStore(a, await readInput(a)).variables, parseStore(b, await readInput(b)).variables);
  if (o.json) {
    const brief = (v: Variable) => ({ name: v.name, guid: v.guid.toLowerCase() });
    io.stdout.write(
      json({ added: d.added.map(brief), removed: d.removed.map(brief), changed: d.changed.map((c) => ({ name: c.name, guid: c.guid, fields: c.fields })) }),
    );
  } else if (!isEmptyDiff(d)) {
    io.stdout.write(`${diffText(d)}\n`);
  }
  return isEmptyDiff(d) ? 0 : 1;
}

/** Read FILE, apply `edit` to its live variables, write the result to --output or FILE. */
async function editStore(
  file: string,
  output: string | undefined,
  edit: (vars: Variable[]) => Variable[],
): Promise<{ before: number; after: number; target: string }> {
  const buf = await readInput(file);
  const vars = parseStore(file, buf).variables;
  let next: Buffer;
  let after: number;
  try {
    const edited = edit(vars);
    after = edited.length;
    next = writeVarStore(buf, edited);
  } catch (e) {
    if (e instanceof VarStoreError) throw new CliFailure(`${file}: ${e.message}`);
    throw e;
  }
  const target = output ?? file;
  await writeOutput(target, file, next);
  return { before: vars.length, after, target };
}

async function set(file: string, o: { name: string; guid: string; attr?: string; data: string; output?: string }, io: CliIo): Promise<number> {
  const guid = parseGuidOption(o.guid);
  const given = o.attr === undefined ? undefined : parseAttr(o.attr);
  const data = parseHex(o.data);
  let attr = 0;
  const r = await editStore(file, o.output, (vars) => {
    // Changing a value keeps the variable's attributes (as the API's PUT does); a new one needs them.
    const kept = findVariable(vars, o.name, guid)?.attr;
    if (given === undefined && kept === undefined) throw new UsageError(`--attr is required for a new variable (${o.name} is not in ${file})`);
    attr = given ?? (kept as number);
    return setVariable(vars, { name: o.name, guid, attr, data });
  });
  io.stdout.write(`${r.target}: set ${o.name} (${guid}), ${data.length} bytes; ${r.before} -> ${r.after} variables (attr 0x${attr.toString(16)})\n`);
  return 0;
}

async function del(file: string, o: { name: string; guid: string; output?: string }, io: CliIo): Promise<number> {
  const guid = parseGuidOption(o.guid);
  const r = await editStore(file, o.output, (vars) => deleteVariable(vars, o.name, guid));
  io.stdout.write(`${r.target}: deleted ${o.name} (${guid}); ${r.before} -> ${r.after} variables\n`);
  return 0;
}

async function exportCmd(file: string, o: { output?: string }, io: CliIo): Promise<number> {
  const text = json(exportJson(parseStore(file, await readInput(file)).variables));
  if (o.output === undefined) io.stdout.write(text);
  else await writeOutput(o.output, o.output, text, 0o644);
  return 0;
}

async function importCmd(file: string, jsonFile: string, o: { output?: string }, io: CliIo): Promise<number> {
  const text = await readInput(jsonFile);
  let vars: Variable[];
  try {
    vars = importJson(text.toString('utf8'));
  } catch (e) {
    if (e instanceof VarStoreError) throw new CliFailure(`${jsonFile}: ${e.message}`);
    throw e;
  }
  const r = await editStore(file, o.output, () => vars);
  io.stdout.write(`${r.target}: imported ${r.after} variables from ${jsonFile} (was ${r.before})\n`);
  return 0;
}

async function secureBoot(file: string, o: { json?: boolean }, io: CliIo): Promise<number> {
  const s = secureBootSummary(parseStore(file, await readInput(file)).variables);
  io.stdout.write(o.json ? json(s) : `${secureBootText(s)}\n`);
  return 0;
}

/** Marks items that took the owner from the command line (none given): those need --owner. */
const NO_OWNER = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

/** Items from a certificate file (PEM, DER, EFI signature list) or a SHA-256 hex hash. */
async function keyItems(spec: string, db: KeyDbName, option: string, owner: string | undefined, allowExpired: boolean): Promise<SignatureItem[]> {
  let input: string | Buffer = spec;
  if (!/^[0-9a-fA-F]{64}$/.test(spec)) {
    try {
      input = await readInput(spec);
    } catch (e) {
      throw e instanceof CliFailure ? new CliFailure(`--${option} ${e.message}`) : e;
    }
  }
  const r = parseKeyMaterial(input, db, owner ?? NO_OWNER, { now: new Date(), allowExpired });
  if ('problem' in r) throw new CliFailure(`--${option} ${spec}: ${r.problem}`);
  if (r.items.some((i) => i.owner === NO_OWNER)) {
    throw new UsageError(`--${option} ${spec}: --owner GUID is required for certificates and hashes (the SignatureOwner written with them)`);
  }
  return r.items;
}

/** `nvram enroll` options as commander gives them (repeatable ones as lists). */
interface EnrollOptions {
  keyset?: string;
  configFile?: string;
  pk?: string;
  kek: string[];
  db: string[];
  dbx: string[];
  addKek: string[];
  addDb: string[];
  addDbx: string[];
  removeKek: string[];
  removeDb: string[];
  removeDbx: string[];
  clearPk?: boolean;
  owner?: string;
  allowExpired?: boolean;
  output?: string;
}

/** Per database: its option name, and the set / add / remove lists of the options. */
const DB_OPTIONS: ReadonlyArray<[string, KeyDbName, (o: EnrollOptions) => [string[], string[], string[]]]> = [
  ['kek', 'KEK', (o) => [o.kek, o.addKek, o.removeKek]],
  ['db', 'db', (o) => [o.db, o.addDb, o.removeDb]],
  ['dbx', 'dbx', (o) => [o.dbx, o.addDbx, o.removeDbx]],
];

/** The changes the enroll options ask for, in the order: key set, set, add, remove, clear PK. */
async function enrollChanges(o: EnrollOptions, env: NvramEnv): Promise<KeyChange[]> {
  if (o.owner !== undefined && !resolveGuid(o.owner)) throw new UsageError(`--owner: '${o.owner}' is not a GUID`);
  const ownerGuid = o.owner === undefined ? undefined : resolveGuid(o.owner);
  const allowExpired = o.allowExpired === true;
  const changes: KeyChange[] = [];
  if (o.keyset !== undefined) {
    let config: Config;
    try {
      config = env.config(o.configFile);
    } catch (e) {
      throw new CliFailure(e instanceof ConfigError ? e.problems.join('; ') : (e as Error).message);
    }
    const inv = discoverFirmware({ firmwareMap: config.firmwareMap, descriptorDirs: [...config.firmware.descriptor_dirs] });
    const load = loadKeysets(config.secureBootKeysets, { now: new Date(), template: enrolledTemplate(inv, env.hostArch()) });
    if (load.problems.length) throw new CliFailure(`${config.source}: ${load.problems.join('; ')}`);
    const ks = load.keysets.get(o.keyset);
    if (!ks) {
      const why = o.keyset === BUILTIN_KEYSET ? `; ${load.notes.join('; ')}` : '';
      throw new CliFailure(`--keyset: no key set '${o.keyset}' in ${config.source} (known: ${[...load.keysets.keys()].join(', ') || 'none'})${why}`);
    }
    changes.push(...keyChangesFor(ks));
  }
  if (o.pk !== undefined) changes.push({ op: 'set', db: 'PK', items: await keyItems(o.pk, 'PK', 'pk', ownerGuid, allowExpired) });
  const items = async (files: string[], db: KeyDbName, option: string, owner: string | undefined, expiredOk: boolean) =>
    (await Promise.all(files.map((f) => keyItems(f, db, option, owner, expiredOk)))).flat();
  for (const [opt, db, lists] of DB_OPTIONS) {
    const [set] = lists(o);
    if (set.length) changes.push({ op: 'set', db, items: await items(set, db, opt, ownerGuid, allowExpired) });
  }
  for (const [opt, db, lists] of DB_OPTIONS) {
    const [, add] = lists(o);
    if (add.length) changes.push({ op: 'add', db, items: await items(add, db, `add-${opt}`, ownerGuid, allowExpired) });
  }
  for (const [opt, db, lists] of DB_OPTIONS) {
    const [, , rm] = lists(o);
    // What to remove is matched by content only: any owner, expired certificates too.
    if (rm.length) changes.push({ op: 'remove', db, items: await items(rm, db, `remove-${opt}`, ownerGuid ?? '00000000-0000-0000-0000-000000000000', true) });
  }
  if (o.clearPk) changes.push({ op: 'set', db: 'PK', items: [] });
  if (changes.length === 0) throw new UsageError('nothing to enroll: give --keyset, --pk, --kek, --db, --dbx, --add-*, --remove-* or --clear-pk');
  return changes;
}

function reportText(r: KeyChangeReport): string {
  const parts = [`${r.added} added`, `${r.removed} removed`];
  if (r.duplicates) parts.push(`${r.duplicates} already present (no-op)`);
  if (r.missing) parts.push(`${r.missing} not present (no-op)`);
  return `  ${r.db.padEnd(4)} ${r.op.padEnd(6)} ${parts.join(', ')}`;
}

async function enroll(file: string, o: EnrollOptions, io: CliIo, env: NvramEnv): Promise<number> {
  const changes = await enrollChanges(o, env);
  let reports: KeyChangeReport[] = [];
  let changed = false;
  const r = await editStore(file, o.output, (vars) => {
    const res = applyKeyChanges(vars, changes, { now: new Date() });
    reports = res.reports;
    changed = res.changed;
    return res.variables;
  });
  const s = secureBootSummary(parseStore(r.target, await readInput(r.target)).variables);
  io.stdout.write(
    `${r.target}: ${changed ? 'keys changed' : 'no change (every entry already as asked)'}\n${reports.map(reportText).join('\n')}\n${secureBootText(s)}\n`,
  );
  return 0;
}

/** A repeatable commander option's accumulator. */
const collect = (v: string, prev: string[]) => [...prev, v];

/**
 * `nvram` and its subcommands as a commander command (for `runNvramCli` and the main
 * program); each action leaves its exit code in `out`.
 */
export function nvramCommand(io: CliIo, out: Outcome = { code: 0 }, env: NvramEnv = HOST_ENV): Command {
  const nvram = new Command('nvram')
    .description('inspect and edit edk2 variable store files offline')
    .usage('<command> [options]')
    .addHelpText('after', NVRAM_NOTES);
  const done = (p: Promise<number>) => p.then((code) => void (out.code = code));
  nvram
    .command('show')
    .description('list the variables, decoded')
    .argument('<FILE>')
    .option('--json', 'JSON output')
    .option('--deleted', 'include deleted records')
    .action((file: string, o: { json?: boolean; deleted?: boolean }) => done(show(file, o, io)));
  nvram
    .command('diff')
    .description('added, removed and changed variables (exit 1 when the stores differ, as diff(1))')
    .argument('<A>')
    .argument('<B>')
    .option('--json', 'JSON output')
    .action((a: string, b: string, o: { json?: boolean }) => done(diff(a, b, o, io)));
  nvram
    .command('set')
    .description('set (add or replace) one variable')
    .argument('<FILE>')
    .requiredOption('--name <NAME>', 'variable name')
    .requiredOption('--guid <GUID>', 'vendor GUID or a well-known name')
    .option('--attr <ATTR>', "attributes (default: the existing variable's; required for a new one)")
    .requiredOption('--data <HEX>', 'the value, hex')
    .option('--output <OUT>', 'write here instead of FILE')
    .action((file: string, o: { name: string; guid: string; attr?: string; data: string; output?: string }) => done(set(file, o, io)));
  nvram
    .command('delete')
    .description('delete one variable')
    .argument('<FILE>')
    .requiredOption('--name <NAME>', 'variable name')
    .requiredOption('--guid <GUID>', 'vendor GUID or a well-known name')
    .option('--output <OUT>', 'write here instead of FILE')
    .action((file: string, o: { name: string; guid: string; output?: string }) => done(del(file, o, io)));
  nvram
    .command('export')
    .description('the variables as version-2 JSON (virt-fw-vars / QEMU uefi-vars format)')
    .argument('<FILE>')
    .option('--output <JSON>', 'write here instead of stdout')
    .action((file: string, o: { output?: string }) => done(exportCmd(file, o, io)));
  nvram
    .command('import')
    .description("replace the store's variables with a version-2 JSON file's")
    .argument('<FILE>')
    .argument('<JSON>')
    .option('--output <OUT>', 'write here instead of FILE')
    .action((file: string, jsonFile: string, o: { output?: string }) => done(importCmd(file, jsonFile, o, io)));
  nvram
    .command('secure-boot')
    .description('the Secure Boot state the variables give, and the enrolled keys')
    .argument('<FILE>')
    .option('--json', 'JSON output')
    .action((file: string, o: { json?: boolean }) => done(secureBoot(file, o, io)));
  nvram
    .command('enroll')
    .description('set, add or remove PK, KEK, db and dbx entries, as edk2 leaves an authenticated write')
    .argument('<FILE>')
    .option('--keyset <NAME>', 'enroll the key set of this name')
    .option(
      '--config-file <CONF>',
      `the sidecar configuration that defines --keyset (default: ${DEFAULT_CONFIG_FILE} when it exists, else the built-in defaults)`,
    )
    .option('--pk <CERT>', 'set PK (one certificate)')
    .option('--kek <CERT>', 'set KEK (repeatable)', collect, [])
    .option('--db <CERT|HASH>', 'set db (repeatable)', collect, [])
    .option('--dbx <CERT|HASH>', 'set dbx (repeatable)', collect, [])
    .option('--add-kek <CERT>', 'add to KEK (repeatable)', collect, [])
    .option('--add-db <CERT|HASH>', 'add to db (repeatable)', collect, [])
    .option('--add-dbx <CERT|HASH>', 'add to dbx (repeatable)', collect, [])
    .option('--remove-kek <CERT>', 'remove from KEK (repeatable)', collect, [])
    .option('--remove-db <CERT|HASH>', 'remove from db (repeatable)', collect, [])
    .option('--remove-dbx <CERT|HASH>', 'remove from dbx (repeatable)', collect, [])
    .option('--clear-pk', 'remove PK (back to setup mode)')
    .option('--owner <GUID>', 'SignatureOwner of the certificates and hashes given here')
    .option('--allow-expired', 'accept certificates that are expired or not yet valid')
    .option('--output <OUT>', 'write here instead of FILE')
    .action((file: string, o: EnrollOptions) => done(enroll(file, o, io, env)));
  return nvram;
}

/**
 * After `nvram <argv...>` failed: one line on stderr, and the exit code (2 usage, 1 failure;
 * `diff` 2 for any trouble). Never throws.
 */
export function nvramFailure(e: unknown, nvram: Command, argv: readonly string[], io: CliIo): number {
  if (isHelpShown(e)) return 0;
  const sub = subcommandIn(nvram, argv);
  const where = sub ? `nvram ${sub.name()}` : 'nvram';
  const see = ' (see: nova-uefi-shim nvram --help)';
  if (e instanceof CommanderError) {
    if (e.code === 'commander.help') return USAGE_EXIT;
    io.stderr.write(`${where}: ${usageMessage(e, sub ?? nvram)}${see}\n`);
    return USAGE_EXIT;
  }
  if (e instanceof UsageError) {
    io.stderr.write(`${where}: ${e.message}${see}\n`);
    return USAGE_EXIT;
  }
  const msg = e instanceof CliFailure ? e.message : `internal error: ${e instanceof Error ? e.message : String(e)}`;
  io.stderr.write(`${where}: ${msg.replace(/\s*\n\s*/g, ' ')}\n`);
  return sub?.name() === 'diff' ? 2 : 1;
}

/** Run `nvram <argv...>`; resolves to the exit code. Never throws, never exits. */
export async function runNvramCli(argv: readonly string[], io: CliIo = process, env: NvramEnv = HOST_ENV): Promise<number> {
  const out = { code: 0 };
  const nvram = nvramCommand(io, out, env);
  const program = prepare(new Command('nova-uefi-shim').addCommand(nvram), io);
  if (argv.length === 0) {
    io.stderr.write(nvram.helpInformation());
    return USAGE_EXIT;
  }
  try {
    await program.parseAsync(['nvram', ...argv], { from: 'user' });
    return out.code;
  } catch (e) {
    return nvramFailure(e, nvram, argv, io);
  }
}
