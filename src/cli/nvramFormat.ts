/**
 * @module cli/nvramFormat
 * Human-readable and JSON renderings for `nova-uefi-shim nvram`: one line per variable
 * (name, vendor, attributes, size, decoded summary), the Secure Boot summary, and diffs.
 * Pure string building; the command module does the I/O.
 */
import {
  attrNames,
  decodeVariable,
  formatEfiTime,
  guidName,
  isZeroTime,
  type DecodedVariable,
  type SecureBootSummary,
  type KeyDatabase,
  type StoredVariable,
  type VarStore,
  type VariableDiff,
  type Variable,
} from '../varstore';

const hex = (n: number) => `0x${n.toString(16)}`;

function vendor(guid: string): string {
  return guidName(guid) ?? guid;
}

/** `CN=...` of a subject, or the whole subject when it has none. */
export function commonName(subject: string): string {
  const m = /(?:^|, )CN=(.*?)(?=, [A-Za-z.]+=|$)/.exec(subject);
  return m ? m[1] : subject;
}

/** One-line summary of a decoded variable. */
export function summarise(d: DecodedVariable | undefined, data: Buffer): string {
  if (!d) {
    const preview = data.subarray(0, 16).toString('hex');
    return data.length > 16 ? `${preview}…` : preview;
  }
  if ('error' in d) return `malformed: ${d.error}`;
  switch (d.kind) {
    case 'boot-order':
      return d.entries.join(',') || '(empty)';
    case 'load-option': {
      const flags = [d.active ? 'active' : 'inactive'];
      if (d.hidden) flags.push('hidden');
      if (d.category !== 'boot') flags.push(String(d.category));
      const opt = d.optional_data ? ` +${d.optional_data.length / 2} B optional data` : '';
      return `${JSON.stringify(d.description)} [${flags.join(',')}] ${d.device_path}${opt}`;
    }
    case 'boot-option-number':
      return d.entry;
    case 'signature-database': {
      const parts: string[] = [];
      if (d.certificates.length) parts.push(`x509: ${d.certificates.map((c) => commonName(c.subject)).join('; ')}`);
      if (d.sha256_count) parts.push(`sha256 x${d.sha256_count}`);
      for (const [k, n] of Object.entries(d.other)) parts.push(`${k} x${n}`);
      return parts.join('; ') || '(empty)';
    }
    case 'device-path':
      return d.device_path;
    case 'string':
      return JSON.stringify(d.value);
    default:
      return 'value' in d ? String(d.value) : '';
  }
}

export function storeHeaderText(file: string, s: VarStore): string {
  const kind = s.store.format === 'authenticated' ? 'authenticated' : 'plain (non-authenticated)';
  return [
    `${file}: edk2 ${kind} variable store, ${s.fileSize} bytes`,
    `  volume at ${hex(s.fv.offset)} (${hex(s.fv.length)} bytes), store at ${hex(s.store.offset)} (${hex(s.store.size)} bytes), records end at ${hex(s.listEnd)}, ${s.freeBytes} bytes free`,
    `  ${s.variables.filter((v) => v.live).length} variables, ${s.deletedCount} deleted records`,
  ].join('\n');
}

function stateText(v: StoredVariable): string {
  if (v.live) return 'live';
  if (v.state === 0x3c || v.state === 0x3d) return 'deleted';
  if (v.state === 0x3e) return 'shadowed';
  return `state ${hex(v.state)}`;
}

export function variablesText(vars: readonly StoredVariable[], withState: boolean): string {
  const rows = vars.map((v) => [
    ...(withState ? [stateText(v)] : []),
    v.name,
    vendor(v.guid),
    attrNames(v.attr).join(','),
    String(v.data.length),
    summarise(v.live ? decodeVariable(v) : undefined, v.data),
  ]);
  const head = [...(withState ? ['STATE'] : []), 'NAME', 'VENDOR', 'ATTR', 'SIZE', 'VALUE'];
  const all = [head, ...rows];
  const widths = head.map((_, i) => (i === head.length - 1 ? 0 : Math.max(...all.map((r) => r[i].length))));
  return all
    .map((r) =>
      r
        .map((c, i) => (widths[i] ? c.padEnd(widths[i]) : c))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function showJson(file: string, s: VarStore): unknown {
  return {
    file,
    format: 'edk2',
    store: {
      format: s.store.format,
      file_size: s.fileSize,
      fv_offset: s.fv.offset,
      fv_length: s.fv.length,
      store_offset: s.store.offset,
      store_size: s.store.size,
      list_end: s.listEnd,
      free_bytes: s.freeBytes,
      records: s.recordCount,
      deleted_records: s.deletedCount,
    },
    variables: s.variables.map((v) => {
      const out: Record<string, unknown> = {
        name: v.name,
        guid: v.guid,
        attr: v.attr,
        attr_names: attrNames(v.attr),
        size: v.data.length,
        offset: v.offset,
      };
      if (!v.live) out.state = v.state;
      if (!isZeroTime(v.timestamp)) out.time = formatEfiTime(v.timestamp);
      const d = v.live ? decodeVariable(v) : undefined;
      if (d) out.decoded = d;
      out.data = v.data.toString('hex');
      return out;
    }),
  };
}

function keyDbText(label: string, k: KeyDatabase): string[] {
  const pad = `${label}:`.padEnd(5);
  if (!k.present) return [`${pad}not enrolled`];
  if (k.error) return [`${pad}malformed: ${k.error}`];
  const head: string[] = [];
  head.push(`${k.certificates.length} certificate${k.certificates.length === 1 ? '' : 's'}`);
  if (k.hash_count) head.push(`${k.hash_count} SHA-256 hash${k.hash_count === 1 ? '' : 'es'}`);
  return [`${pad}${head.join(', ')}`, ...k.certificates.map((c) => `       ${c}`)];
}

export function secureBootText(s: SecureBootSummary): string {
  const why = s.setup_mode
    ? 'setup mode: no PK enrolled'
    : `user mode, SecureBootEnable ${s.secure_boot_enable === null ? 'absent (firmware creates it as 1)' : `= ${s.secure_boot_enable}`}`;
  return [
    `Secure Boot: ${s.enabled ? 'enabled' : 'disabled'} (${why})${s.custom_mode ? ', custom mode' : ''}`,
    ...keyDbText('PK', s.pk),
    ...keyDbText('KEK', s.kek),
    ...keyDbText('db', s.db),
    ...keyDbText('dbx', s.dbx),
  ].join('\n');
}

function id(v: Variable): string {
  return `${v.name} (${vendor(v.guid.toLowerCase())})`;
}

export function diffText(d: VariableDiff): string {
  const lines: string[] = [];
  for (const v of d.removed) lines.push(`- ${id(v)}`);
  for (const v of d.added) lines.push(`+ ${id(v)}: ${v.data.length} bytes, attr ${hex(v.attr)}`);
  for (const c of d.changed) {
    const parts = c.fields.map((f) =>
      f === 'attr'
        ? `attr ${hex(c.before.attr)} -> ${hex(c.after.attr)}`
        : f === 'data'
          ? `data ${c.before.data.length} -> ${c.after.data.length} bytes`
          : 'timestamp',
    );
    lines.push(`~ ${id(c.after)}: ${parts.join(', ')}`);
  }
  return lines.join('\n');
}
