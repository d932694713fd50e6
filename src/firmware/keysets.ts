/**
 * @module firmware/keysets
 * The Secure Boot key sets this host offers: the operator's `[secure_boot_keyset:<name>]`
 * sections, their files read and checked (varstore/secureBootKeys), plus one built-in key set,
 * `debian`, holding the keys of the host's enrolled Secure Boot template (on Debian
 * `OVMF_VARS_4M.ms.fd`: Debian's PK, Microsoft's KEK CA 2011 and the 2011 db CAs, one dbx
 * hash) so that "back to the distribution's keys" is one name.
 *
 * Loaded at start (any problem stops the start, every problem listed with its option) and on
 * reload (SIGHUP): a reload with problems keeps the key sets in force and reports the problems.
 * Does not enroll anything; turning a key set into store changes is `keyChangesFor`.
 */
import { readFileSync } from 'node:fs';
import type { KeysetSection } from '../config';
import {
  EFI_GLOBAL_VARIABLE,
  EFI_IMAGE_SECURITY_DATABASE,
  findVariable,
  parseKeyMaterial,
  parseVarStore,
  readSignatureLists,
  signatureTypeName,
  type KeyChange,
  type KeyDbName,
  type SignatureItem,
} from '../varstore';
import type { FirmwareInventory } from './types';

export const BUILTIN_KEYSET = 'debian';

export interface Keyset {
  name: string;
  /** `config:[secure_boot_keyset:NAME]` or `builtin:<template path>`. */
  source: string;
  /** What the key set sets; an absent PK or an empty list leaves that database as the instance has it. */
  pk: SignatureItem | null;
  kek: SignatureItem[];
  db: SignatureItem[];
  dbx: SignatureItem[];
}

export interface KeysetLoad {
  keysets: Map<string, Keyset>;
  problems: string[];
}

/** Read `file` as key material for `db`; a problem names `[section] option`. */
function material(where: string, file: string, db: KeyDbName, owner: string, sec: KeysetSection, now: Date, problems: string[]): SignatureItem[] {
  let input: Buffer | string = file;
  if (!/^[0-9a-fA-F]{64}$/.test(file)) {
    try {
      input = readFileSync(file);
    } catch (e) {
      problems.push(`${where}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return [];
    }
  } else if (db !== 'db' && db !== 'dbx') {
    problems.push(`${where}: ${db} holds certificates, not hashes ('${file}')`);
    return [];
  }
  const r = parseKeyMaterial(input, db, owner, { now, allowExpired: sec.allow_expired });
  if ('problem' in r) {
    problems.push(`${where}: ${file}: ${r.problem}`);
    return [];
  }
  return r.items;
}

/** One operator section → a key set (problems appended). */
export function loadKeysetSection(sec: KeysetSection, now: Date, problems: string[]): Keyset {
  const at = (opt: string) => `[secure_boot_keyset:${sec.name}] ${opt}`;
  const many = (opt: 'kek' | 'db' | 'dbx', db: KeyDbName) => sec[opt].flatMap((f) => material(at(opt), f, db, sec.owner_guid, sec, now, problems));
  const pk = sec.pk ? material(at('pk'), sec.pk, 'PK', sec.owner_guid, sec, now, problems) : [];
  return {
    name: sec.name,
    source: `config:[secure_boot_keyset:${sec.name}]`,
    pk: pk[0] ?? null,
    kek: many('kek', 'KEK'),
    db: many('db', 'db'),
    dbx: many('dbx', 'dbx'),
  };
}

/** The items of one signature database in a store (hash and certificate entries only). */
function storeItems(vars: ReturnType<typeof parseVarStore>['variables'], name: KeyDbName): SignatureItem[] {
  const v = findVariable(vars, name, name === 'PK' || name === 'KEK' ? EFI_GLOBAL_VARIABLE : EFI_IMAGE_SECURITY_DATABASE);
  if (!v) return [];
  const out: SignatureItem[] = [];
  for (const l of readSignatureLists(v.data)) {
    const t = signatureTypeName(l.type);
    if (t === 'x509' || t === 'sha256') for (const e of l.entries) out.push({ type: t, owner: e.owner, data: e.data.toString('hex') });
  }
  return out;
}

/** The built-in key set from an enrolled template, or a reason it is not available. */
export function builtinKeyset(template: string): Keyset | { problem: string } {
  try {
    const vars = parseVarStore(readFileSync(template)).variables;
    const pk = storeItems(vars, 'PK');
    if (pk.length !== 1) return { problem: `${template} holds ${pk.length} PK certificates` };
    return {
      name: BUILTIN_KEYSET,
      source: `builtin:${template}`,
      pk: pk[0],
      kek: storeItems(vars, 'KEK'),
      db: storeItems(vars, 'db'),
      dbx: storeItems(vars, 'dbx'),
    };
  } catch (e) {
    return { problem: `${template}: ${(e as Error).message}` };
  }
}

/** The enrolled Secure Boot template for `arch` the firmware inventory ranks first. */
export function enrolledTemplate(inv: FirmwareInventory, arch: string): string | undefined {
  return inv.entries.find((e) => e.arch === arch && e.secureBoot && e.enrolledKeys && !e.stateless && e.nvramTemplate)?.nvramTemplate ?? undefined;
}

/** Load every section (and the built-in key set from `template` when given). */
export function loadKeysets(sections: Readonly<Record<string, KeysetSection>>, opts: { now: Date; template?: string }): KeysetLoad & { notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  const keysets = new Map<string, Keyset>();
  if (opts.template) {
    const b = builtinKeyset(opts.template);
    if ('problem' in b) notes.push(`built-in key set '${BUILTIN_KEYSET}' not available: ${b.problem}`);
    else keysets.set(BUILTIN_KEYSET, b);
  } else notes.push(`built-in key set '${BUILTIN_KEYSET}' not available: no enrolled Secure Boot template on this host`);
  for (const sec of Object.values(sections)) {
    if (sec.name === BUILTIN_KEYSET) {
      problems.push(`[secure_boot_keyset:${sec.name}]: '${BUILTIN_KEYSET}' is the built-in key set (the host's enrolled template); choose another name`);
      continue;
    }
    keysets.set(sec.name, loadKeysetSection(sec, opts.now, problems));
  }
  return { keysets, problems, notes };
}

/** The store changes that enroll `ks`: each database it holds replaces the instance's. */
export function keyChangesFor(ks: Keyset): KeyChange[] {
  const out: KeyChange[] = [];
  if (ks.pk) out.push({ op: 'set', db: 'PK', items: [ks.pk] });
  if (ks.kek.length) out.push({ op: 'set', db: 'KEK', items: ks.kek });
  if (ks.db.length) out.push({ op: 'set', db: 'db', items: ks.db });
  if (ks.dbx.length) out.push({ op: 'set', db: 'dbx', items: ks.dbx });
  return out;
}

/**
 * The key sets in force. `replace` swaps them only when the new load has no problems
 * (a reload with a broken file keeps serving the previous key sets).
 */
export class KeysetRegistry {
  private sets = new Map<string, Keyset>();

  constructor(initial?: Map<string, Keyset>) {
    if (initial) this.sets = initial;
  }

  get(name: string): Keyset | undefined {
    return this.sets.get(name);
  }

  names(): string[] {
    return [...this.sets.keys()].sort();
  }

  list(): Keyset[] {
    return this.names().map((n) => this.sets.get(n) as Keyset);
  }

  /** Adopt `load` when it has no problems; returns the problems (empty: adopted). */
  replace(load: KeysetLoad): string[] {
    if (load.problems.length) return load.problems;
    this.sets = load.keysets;
    return [];
  }
}
