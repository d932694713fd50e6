/**
 * @module cli/onlineKit
 * What every online command shares: the connection options and the client they give, how an
 * answer is printed (`--json` or text), progress lines on stderr, argument checks, and the
 * exit-code help. cli/online builds the commands on it.
 */
import { Command } from 'commander';
import { clientSettings, type ClientOptions } from '../config/client';
import { UsageError, type CliIo } from './args';
import { CliError, EXIT, SidecarClient } from './client';
import { resolveGuid } from '../varstore';
import type { Schemas, SecureBootSummaryBody } from '../wire';

type Variable = Schemas['NvramVariable'];

export interface Common extends ClientOptions {
  json?: boolean;
  timeout?: string;
}

export interface OnlineEnv {
  /** The environment the connection settings may come from (tests pass their own). */
  env?: NodeJS.ProcessEnv;
  /** Between polls of a running rotation (ms; tests shorten it). */
  pollMs?: number;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function uuidArg(s: string): string {
  if (!UUID_RE.test(s)) throw new UsageError(`'${s}' is not an instance uuid`);
  return s.toLowerCase();
}

export function guidOf(s: string): string {
  const g = resolveGuid(s);
  if (!g) throw new UsageError(`--guid: '${s}' is not a GUID or a well-known GUID name`);
  return g;
}

export function json(x: unknown): string {
  return `${JSON.stringify(x, null, 2)}\n`;
}

/** Columns padded to their widest cell. */
export function table(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('  ')).join('\n') + '\n';
}

export const EXIT_HELP = `
Connection: --url / --token, else NOVA_UEFI_SHIM_URL / NOVA_UEFI_SHIM_TOKEN, else [api] of the
config file (--config-file, NOVA_UEFI_SHIM_CONFIG or /etc/nova-uefi-shim/nova-uefi-shim.conf).
Exit codes: 0 done; 1 refused or failed by the sidecar; 2 usage; 3 not found; 4 not authorized
(token missing or wrong); 5 sidecar unreachable.
`;

/** The shared parts of the online commands (see the module). */
export interface Kit {
  io: CliIo;
  opts: OnlineEnv;
  /** The client for one command's options (usage problems are exit 2 before anything is sent). */
  client: (o: Common) => SidecarClient;
  /** Print the answer: as it came with `--json`, else `text()`. */
  emit: (o: Common, data: unknown, text: () => string) => void;
  /** A line on stderr saying what a long operation is doing. */
  progress: (line: string) => void;
  /** Adds the connection options to `cmd` and runs `fn` with the command's options last. */
  leaf: (cmd: Command, fn: (...a: never[]) => Promise<void>) => Command;
}

export function onlineKit(io: CliIo, out: { code: number }, opts: OnlineEnv = {}): Kit {
  /** The client for one command's options (usage problems are exit 2 before anything is sent). */
  const client = (o: Common) => {
    let s;
    try {
      s = clientSettings(o, opts.env ?? process.env);
    } catch (e) {
      throw new CliError((e as Error).message, EXIT.USAGE);
    }
    const t = o.timeout === undefined ? 30 : Number(o.timeout);
    if (!Number.isFinite(t) || t <= 0) throw new UsageError(`--timeout: '${o.timeout}' is not a number of seconds`);
    return new SidecarClient(s, t * 1000);
  };
  const emit = (o: Common, data: unknown, text: () => string) => void io.stdout.write(o.json ? json(data) : text());
  const progress = (line: string) => void io.stderr.write(`${line}\n`);
  /** Adds the connection options and runs `fn` with the command's options last. */
  const leaf = (cmd: Command, fn: (...a: never[]) => Promise<void>) =>
    cmd
      .option('--url <URL>', 'the sidecar (default: NOVA_UEFI_SHIM_URL, else [api] in the config file, else http://127.0.0.1:7780)')
      .option('--token <TOKEN>', "the sidecar's [api] auth_token (default: NOVA_UEFI_SHIM_TOKEN, else the config file's)")
      .option(
        '--config-file <FILE>',
        'read the URL and token from this sidecar configuration (default: NOVA_UEFI_SHIM_CONFIG, else /etc/nova-uefi-shim/nova-uefi-shim.conf)',
      )
      .option('--timeout <SECONDS>', 'give up on an answer after this long', '30')
      .option('--json', "print the sidecar's JSON answer")
      .action(async (...args: unknown[]) => {
        await (fn as (...a: unknown[]) => Promise<void>)(...args.slice(0, -1));
        out.code = EXIT.OK;
      });
  return { io, opts, client, emit, progress, leaf };
}

function keys(name: string, db: Schemas['KeyDatabase']): string {
  if (db.error) return `${name}: unreadable (${db.error})`;
  if (!db.present) return `${name}: not enrolled`;
  const parts = [...db.certificates];
  if (db.hash_count) parts.push(`${db.hash_count} SHA-256 hash${db.hash_count === 1 ? '' : 'es'}`);
  return `${name}: ${parts.join('; ') || 'empty'}`;
}

export function secureBootText(s: SecureBootSummaryBody): string {
  const state = s.setup_mode ? 'setup mode (no PK: any key may be enrolled)' : s.enabled ? 'enabled' : 'disabled';
  const lines = [`Secure Boot: ${state}`, `key set: ${s.keyset ?? '-'}`, keys('PK', s.pk), keys('KEK', s.kek), keys('db', s.db), keys('dbx', s.dbx)];
  for (const p of s.pending ?? []) lines.push(`queued for the next cold boot: ${p.id}`);
  return lines.join('\n') + '\n';
}

/** A short rendering of a decoded value for the variables table. */
export function summary(v: Variable): string {
  const d = v.decoded;
  if (!d) return v.data.length > 32 ? `${v.data.slice(0, 32)}...` : v.data;
  if (typeof d.description === 'string') return d.description;
  if (Array.isArray(d.entries)) return (d.entries as string[]).join(',');
  if (d.value !== undefined) return String(d.value);
  if (Array.isArray(d.certificates)) return (d.certificates as string[]).join('; ');
  return String(d.kind ?? '');
}
