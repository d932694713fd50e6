/**
 * @module cli/nvram
 * `nova-uefi-shim nvram <command>`: inspect and edit edk2 variable store files offline.
 *
 *   show FILE [--json] [--deleted]        list variables (decoded), optionally deleted records
 *   diff A B [--json]                     added/removed/changed variables; exit 1 when different
 *   set FILE --name N --guid G --attr A --data HEX [--output OUT]
 *   delete FILE --name N --guid G [--output OUT]
 *   export FILE [--output JSON]           version-2 JSON (stdout by default)
 *   import FILE JSON [--output OUT]       replace the variable set with the JSON's
 *   secure-boot FILE [--json]             derived Secure Boot state and enrolled keys
 *   enroll FILE [key options] [--output OUT]
 *                                         set/add/remove PK, KEK, db, dbx entries or enroll a
 *                                         key set, as edk2 leaves an authenticated write
 *
 * Edits go to FILE in place unless --output is given, through `writeFileAtomic` (temp file,
 * fsync, rename), keeping the file mode (and owner, when run as root). Only edit stores of VMs
 * that are shut off.
 *
 * Exit codes: 0 success; 1 failure (one line on stderr naming the problem, never a stack
 * trace); 2 usage error. `diff` follows diff(1): 0 same, 1 different, 2 trouble. The I/O
 * streams are injected so tests run the CLI in-process; nothing here calls process.exit.
 */
import { promises as fsp } from 'node:fs';
import { writeFileAtomic } from '../util/atomicFile';
import {
  ATTR,
  deleteVariable,
  diffVariables,
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
import { parseArgs, positionals, required, UsageError, type ParsedArgs } from './args';
import { loadConfigFile, ConfigError } from '../config';
import { discoverFirmware } from '../firmware/discover';
import { enrolledTemplate, keyChangesFor, loadKeysets } from '../firmware/keysets';
import { hostArch } from '../firmware/machine';
import { applyKeyChanges, parseKeyMaterial, type KeyChange, type KeyChangeReport, type KeyDbName, type SignatureItem } from '../varstore';
import { diffText, secureBootText, showJson, storeHeaderText, variablesText } from './nvramFormat';

export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export const NVRAM_USAGE = `usage: nova-uefi-shim nvram <command> ...
  show FILE [--json] [--deleted]
  diff A B [--json]
  set FILE --name NAME --guid GUID --attr ATTR --data HEX [--output OUT]
  delete FILE --name NAME --guid GUID [--output OUT]
  export FILE [--output JSON]
  import FILE JSON [--output OUT]
  secure-boot FILE [--json]
  enroll FILE [--keyset NAME [--config-file CONF]] [--pk CERT] [--kek CERT]... [--db CERT|HASH]...
         [--dbx CERT|HASH]... [--add-kek CERT]... [--add-db CERT|HASH]... [--add-dbx CERT|HASH]...
         [--remove-kek CERT]... [--remove-db CERT|HASH]... [--remove-dbx CERT|HASH]... [--clear-pk]
         [--owner GUID] [--allow-expired] [--output OUT]
GUID: canonical form or a well-known name (EfiGlobalVariable, EfiImageSecurityDatabase, ...)
ATTR: a number (7, 0x27) or names joined by commas (NV,BS,RT,AT)
`;

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
};

function fsFailure(file: string, e: unknown): CliFailure {
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

type Command = (argv: string[], io: CliIo) => Promise<number>;

const show: Command = async (argv, io) => {
  const args = parseArgs(argv, { flags: ['json', 'deleted'] });
  const [file] = positionals(args, ['FILE']);
  const s = parseStore(file, await readInput(file), args.flags.has('deleted'));
  if (args.flags.has('json')) io.stdout.write(json(showJson(file, s)));
  else io.stdout.write(`${storeHeaderText(file, s)}\n\n${variablesText(s.variables, args.flags.has('deleted'))}\n`);
  return 0;
};

const diff: Command = async (argv, io) => {
  const args = parseArgs(argv, { flags: ['json'] });
  const [a, b] = positionals(args, ['A', 'B']);
  const d = diffVariables(parseStore(a, await readInput(a)).variables, parseStore(b, await readInput(b)).variables);
  if (args.flags.has('json')) {
    const brief = (v: Variable) => ({ name: v.name, guid: v.guid.toLowerCase() });
    io.stdout.write(
      json({ added: d.added.map(brief), removed: d.removed.map(brief), changed: d.changed.map((c) => ({ name: c.name, guid: c.guid, fields: c.fields })) }),
    );
  } else if (!isEmptyDiff(d)) {
    io.stdout.write(`${diffText(d)}\n`);
  }
  return isEmptyDiff(d) ? 0 : 1;
};

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

const set: Command = async (argv, io) => {
  const args = parseArgs(argv, { values: ['name', 'guid', 'attr', 'data', 'output'] });
  const [file] = positionals(args, ['FILE']);
  const name = required(args, 'name');
  const guid = parseGuidOption(required(args, 'guid'));
  const attr = parseAttr(required(args, 'attr'));
  const data = parseHex(required(args, 'data'));
  const r = await editStore(file, args.values.get('output'), (vars) => setVariable(vars, { name, guid, attr, data }));
  io.stdout.write(`${r.target}: set ${name} (${guid}), ${data.length} bytes; ${r.before} -> ${r.after} variables\n`);
  return 0;
};

const del: Command = async (argv, io) => {
  const args = parseArgs(argv, { values: ['name', 'guid', 'output'] });
  const [file] = positionals(args, ['FILE']);
  const name = required(args, 'name');
  const guid = parseGuidOption(required(args, 'guid'));
  const r = await editStore(file, args.values.get('output'), (vars) => deleteVariable(vars, name, guid));
  io.stdout.write(`${r.target}: deleted ${name} (${guid}); ${r.before} -> ${r.after} variables\n`);
  return 0;
};

const exportCmd: Command = async (argv, io) => {
  const args = parseArgs(argv, { values: ['output'] });
  const [file] = positionals(args, ['FILE']);
  const text = json(exportJson(parseStore(file, await readInput(file)).variables));
  const out = args.values.get('output');
  if (out === undefined) io.stdout.write(text);
  else await writeOutput(out, out, text, 0o644);
  return 0;
};

const importCmd: Command = async (argv, io) => {
  const args = parseArgs(argv, { values: ['output'] });
  const [file, jsonFile] = positionals(args, ['FILE', 'JSON']);
  const text = await readInput(jsonFile);
  let vars: Variable[];
  try {
    vars = importJson(text.toString('utf8'));
  } catch (e) {
    if (e instanceof VarStoreError) throw new CliFailure(`${jsonFile}: ${e.message}`);
    throw e;
  }
  const r = await editStore(file, args.values.get('output'), () => vars);
  io.stdout.write(`${r.target}: imported ${r.after} variables from ${jsonFile} (was ${r.before})\n`);
  return 0;
};

const secureBoot: Command = async (argv, io) => {
  const args = parseArgs(argv, { flags: ['json'] });
  const [file] = positionals(args, ['FILE']);
  const s = secureBootSummary(parseStore(file, await readInput(file)).variables);
  io.stdout.write(args.flags.has('json') ? json(s) : `${secureBootText(s)}\n`);
  return 0;
};

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

const DB_OPTIONS: ReadonlyArray<[string, KeyDbName]> = [
  ['kek', 'KEK'],
  ['db', 'db'],
  ['dbx', 'dbx'],
];

/** The changes the enroll options ask for, in the order: key set, set, add, remove, clear PK. */
async function enrollChanges(args: ParsedArgs): Promise<KeyChange[]> {
  const owner = args.values.get('owner');
  if (owner !== undefined && !resolveGuid(owner)) throw new UsageError(`--owner: '${owner}' is not a GUID`);
  const ownerGuid = owner === undefined ? undefined : resolveGuid(owner);
  const allowExpired = args.flags.has('allow-expired');
  const changes: KeyChange[] = [];
  const keyset = args.values.get('keyset');
  if (keyset !== undefined) {
    const confFile = args.values.get('config-file') ?? '/etc/nova-uefi-shim/nova-uefi-shim.conf';
    let config;
    try {
      config = loadConfigFile(confFile);
    } catch (e) {
      throw new CliFailure(e instanceof ConfigError ? e.problems.join('; ') : (e as Error).message);
    }
    const inv = discoverFirmware({ firmwareMap: config.firmwareMap, descriptorDirs: [...config.firmware.descriptor_dirs] });
    const load = loadKeysets(config.secureBootKeysets, { now: new Date(), template: enrolledTemplate(inv, hostArch()) });
    if (load.problems.length) throw new CliFailure(`${confFile}: ${load.problems.join('; ')}`);
    const ks = load.keysets.get(keyset);
    if (!ks) throw new CliFailure(`--keyset: no key set '${keyset}' in ${confFile} (known: ${[...load.keysets.keys()].join(', ') || 'none'})`);
    changes.push(...keyChangesFor(ks));
  }
  const pk = args.values.get('pk');
  if (pk !== undefined) changes.push({ op: 'set', db: 'PK', items: await keyItems(pk, 'PK', 'pk', ownerGuid, allowExpired) });
  for (const [opt, db] of DB_OPTIONS) {
    const set = args.lists.get(opt);
    if (set) changes.push({ op: 'set', db, items: (await Promise.all(set.map((f) => keyItems(f, db, opt, ownerGuid, allowExpired)))).flat() });
  }
  for (const [opt, db] of DB_OPTIONS) {
    const add = args.lists.get(`add-${opt}`);
    if (add) changes.push({ op: 'add', db, items: (await Promise.all(add.map((f) => keyItems(f, db, `add-${opt}`, ownerGuid, allowExpired)))).flat() });
  }
  for (const [opt, db] of DB_OPTIONS) {
    const rm = args.lists.get(`remove-${opt}`);
    // What to remove is matched by content only: any owner, expired certificates too.
    if (rm)
      changes.push({
        op: 'remove',
        db,
        items: (await Promise.all(rm.map((f) => keyItems(f, db, `remove-${opt}`, ownerGuid ?? '00000000-0000-0000-0000-000000000000', true)))).flat(),
      });
  }
  if (args.flags.has('clear-pk')) changes.push({ op: 'set', db: 'PK', items: [] });
  if (changes.length === 0) throw new UsageError('nothing to enroll: give --keyset, --pk, --kek, --db, --dbx, --add-*, --remove-* or --clear-pk');
  return changes;
}

function reportText(r: KeyChangeReport): string {
  const parts = [`${r.added} added`, `${r.removed} removed`];
  if (r.duplicates) parts.push(`${r.duplicates} already present (no-op)`);
  if (r.missing) parts.push(`${r.missing} not present (no-op)`);
  return `  ${r.db.padEnd(4)} ${r.op.padEnd(6)} ${parts.join(', ')}`;
}

const enroll: Command = async (argv, io) => {
  const args = parseArgs(argv, {
    values: ['pk', 'owner', 'output', 'keyset', 'config-file'],
    flags: ['clear-pk', 'allow-expired'],
    multi: ['kek', 'db', 'dbx', 'add-kek', 'add-db', 'add-dbx', 'remove-kek', 'remove-db', 'remove-dbx'],
  });
  const [file] = positionals(args, ['FILE']);
  const changes = await enrollChanges(args);
  let reports: KeyChangeReport[] = [];
  let changed = false;
  const r = await editStore(file, args.values.get('output'), (vars) => {
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
};

const COMMANDS: Readonly<Record<string, Command>> = {
  show,
  diff,
  set,
  delete: del,
  export: exportCmd,
  import: importCmd,
  'secure-boot': secureBoot,
  enroll,
};

/** Run `nvram <argv...>`; resolves to the exit code. Never throws, never exits. */
export async function runNvramCli(argv: readonly string[], io: CliIo = process): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '-h' || cmd === '--help') {
    (cmd === undefined ? io.stderr : io.stdout).write(NVRAM_USAGE);
    return cmd === undefined ? 2 : 0;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    io.stderr.write(`nvram: unknown command '${cmd}' (see: nova-uefi-shim nvram --help)\n`);
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`nvram ${cmd}: ${e.message} (see: nova-uefi-shim nvram --help)\n`);
      return 2;
    }
    const msg = e instanceof CliFailure ? e.message : `internal error: ${e instanceof Error ? e.message : String(e)}`;
    io.stderr.write(`nvram ${cmd}: ${msg.replace(/\s*\n\s*/g, ' ')}\n`);
    return cmd === 'diff' ? 2 : 1;
  }
}
