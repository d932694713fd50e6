/**
 * @module service/doctor
 * The checks behind `nova-uefi-shim doctor`: this host looked at the way an operator would
 * before sending it guests, from the config file alone (the sidecar need not run). Each check
 * is one result, OK / WARN / FAIL, with the option to change when it is not OK:
 *
 *   config       the file parses and validates (every problem, one result each);
 *   api          a non-loopback listener has a token;
 *   tls          the API's certificate loads, pairs with its key, names this host and has
 *                not expired; `[peer] ca_file` loads; plain HTTP off loopback is a warning;
 *   keys         every key file (TLS key, replica keys, S3 secret key file) is private to the
 *                sidecar's user (mode & 0077 is 0), as the sidecar refuses to start otherwise;
 *   firmware     each map entry's and descriptor's files exist and code and vars sizes pair
 *                up (one result per usable entry, one per problem), descriptors parse, and at
 *                least one UEFI entry serves this host's architecture;
 *   nvram_dir    writable, and QEMU's user (`[nvram] owner`) can reach it and owns the stores;
 *   state_dir    writable;
 *   keysets      the Secure Boot key sets load exactly as `serve` loads them (firmware/keysets:
 *                every file read and checked: a missing file, or a private key where a
 *                certificate belongs, fails here as it stops the sidecar's start), and whether
 *                the built-in one is available;
 *   hypervisor   libvirt answers, and its versions (libvirt backend);
 *   peer         each `[peer] hosts` sidecar answers a signed ping, with a clock within
 *                `[peer] max_clock_skew`;
 *   replica      with `[replica] backend` set: the key files load, and the store answers
 *                (s3: HEAD bucket and a LIST of at most one key under the prefix, each bounded
 *                by `[replica] timeout`; directory: it exists and takes a file). A missing
 *                bucket or directory the sidecar would create is a warning. OK without one.
 * Nothing here changes anything on the host or in the store (directories are probed with a
 * temp file that is removed at once).
 */
import { promises as fsp, constants as fsc, readFileSync, type Stats } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, buildConfig, keyFileProblems, keyFilesOf, loadConfigFile, type Config } from '../config';
import { discoverFirmware, listDescriptors, CODE_BUILDS, hostArch } from '../firmware';
import type { FirmwareEntry, FirmwareProblem } from '../firmware/types';
import { LibvirtHypervisor } from '../hypervisor/libvirt';
import { PeerClient, peerHttpsAgent } from '../peer/client';
import { peerApi } from '../peer/protocol';
import { isNovaError } from '../errors';
import { probeWritable } from '../util/atomicFile';
import { isLoopback } from '../server';
import { replicaStoreFor, type ReplicaStore } from '../replica';
import { loadKeyring } from '../replica/keys';
import { enrolledTemplate, loadKeysets } from '../firmware/keysets';

export type Status = 'OK' | 'WARN' | 'FAIL';

export interface DoctorCheck {
  check: string;
  status: Status;
  message: string;
  /** The option to change (or what else to fix) when the status is not OK. */
  option?: string;
}

export interface DoctorOptions {
  /** Without one: the built-in defaults, as the sidecar would run. */
  configFile?: string;
  /** This host's architecture (tests). */
  hostArch?: string;
}

const ok = (check: string, message: string): DoctorCheck => ({ check, status: 'OK', message });
const warn = (check: string, message: string, option: string): DoctorCheck => ({ check, status: 'WARN', message, option });
const fail = (check: string, message: string, option: string): DoctorCheck => ({ check, status: 'FAIL', message, option });

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code && !String(err.message).includes(err.code) ? `${err.code}: ${err.message}` : String(err?.message ?? e);
}

export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorCheck[]> {
  let config: Config;
  try {
    config = opts.configFile ? loadConfigFile(opts.configFile) : buildConfig({}, 'defaults');
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems.map((p) => fail('config', p, /^(\[[^\]]+\](?: \w+)?)/.exec(p)?.[1] ?? '--config-file'));
  }
  const out: DoctorCheck[] = [ok('config', `${config.source} is valid`)];
  out.push(apiCheck(config), ...tlsChecks(config), ...keyFileChecks(config));
  out.push(...firmwareChecks(config, opts.hostArch ?? hostArch()));
  out.push(...keysetChecks(config, opts.hostArch ?? hostArch()));
  const [nvram, state, hv, peers, replica] = await Promise.all([
    nvramDirChecks(config),
    stateDirCheck(config),
    hypervisorCheck(config),
    peerChecks(config),
    replicaCheck(config),
  ]);
  out.push(...nvram, state, hv, ...peers, replica);
  return out;
}

function apiCheck(config: Config): DoctorCheck {
  const { host, port, auth_token: token } = config.api;
  if (!isLoopback(host) && !token) return fail('api', `listens on ${host}:${port} without a token: the sidecar refuses to start so`, '[api] auth_token');
  return ok('api', `listens on ${host}:${port}${token ? ', bearer token set' : ' (loopback, no token)'}`);
}

/** Key files group or others may access: FAIL each, as the sidecar refuses to start with them. */
function keyFileChecks(config: Config): DoctorCheck[] {
  const files = keyFilesOf(config);
  if (!files.length) return [];
  const problems = keyFileProblems(config);
  if (!problems.length) return [ok('keys', `${files.length} key file${files.length === 1 ? '' : 's'} readable by the sidecar's user only`)];
  return problems.map((p) => fail('keys', p, /^(\[[^\]]+\] \w+)/.exec(p)?.[1] ?? 'key files'));
}

/** Certificates expiring sooner than this are a warning (renewal is due). */
const RENEW_DAYS = 14;

function tlsChecks(config: Config): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const { tls_cert_file: certFile, tls_key_file: keyFile, host } = config.api;
  if (!certFile) {
    out.push(
      isLoopback(host)
        ? ok('tls', 'the API is plain HTTP on loopback')
        : warn(
            'tls',
            `the API on ${host} is plain HTTP: the bearer token and the variable stores peers send cross the network unencrypted`,
            '[api] tls_cert_file and tls_key_file',
          ),
    );
  } else {
    try {
      const cert = new X509Certificate(readFileSync(certFile));
      const key = createPrivateKey(readFileSync(keyFile));
      const name = (dn: string) => dn.split('\n').join(', ');
      const line = `${certFile}: ${name(cert.subject)}, signed by ${name(cert.issuer)}, valid until ${cert.validTo}; names ${cert.subjectAltName ?? 'no subject alternative name'}`;
      const left = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
      if (!cert.checkPrivateKey(key)) out.push(fail('tls', `${certFile} and ${keyFile} are not a pair`, '[api] tls_key_file'));
      else if (left < 0) out.push(fail('tls', `${line}: expired`, '[api] tls_cert_file (renew it, then SIGHUP)'));
      else if (left < RENEW_DAYS) out.push(warn('tls', `${line}: expires in ${Math.floor(left)} days`, '[api] tls_cert_file (renew it, then SIGHUP)'));
      else out.push(ok('tls', line));
    } catch (e) {
      out.push(fail('tls', `cannot load the API's certificate and key (${errText(e)})`, '[api] tls_cert_file and tls_key_file'));
    }
  }
  if (config.peer.ca_file) {
    try {
      peerHttpsAgent(config);
      out.push(ok('tls', `peers' certificates are verified against ${config.peer.ca_file}`));
    } catch (e) {
      out.push(fail('tls', errText(e), '[peer] ca_file'));
    }
  }
  const clear = Object.entries(config.peer.hosts).filter(([, url]) => url.startsWith('http://') && !isLoopback(new URL(url).hostname));
  if (clear.length) {
    out.push(
      warn(
        'tls',
        `peers reached over plain HTTP: ${clear.map(([n]) => n).join(', ')}; variable stores would cross the network unencrypted`,
        '[peer] hosts (https URLs)',
      ),
    );
  }
  return out;
}

/** The map key whose value (a path) a problem names, e.g. `[firmware:x86_64] nvram_template`. */
function mapOption(config: Config, p: FirmwareProblem): string {
  const section = /\[firmware:([a-z0-9_]+)\]/.exec(p.source)?.[1] ?? p.arch ?? '<arch>';
  const values: Record<string, unknown> = config.firmwareMap[section] ?? {};
  const key = Object.keys(values).find((k) => typeof values[k] === 'string' && values[k] !== '' && p.message.includes(values[k]));
  return `[firmware:${section}]${key ? ` ${key}` : ''}`;
}

function entryLine(e: FirmwareEntry, sizes: Record<string, number>): string {
  const code = sizes[e.executable];
  const build = CODE_BUILDS.get(code)?.build;
  const variant = e.stateless ? 'stateless' : e.secureBoot ? `Secure Boot${e.enrolledKeys ? ', keys enrolled' : ''}` : 'plain';
  const files = e.nvramTemplate ? `${e.executable} (${code} bytes) + ${e.nvramTemplate} (${sizes[e.nvramTemplate]} bytes)` : `${e.executable} (${code} bytes)`;
  return `${e.arch} ${variant}${build ? ` ${build}` : ''} from ${e.source.replace(/^(config|descriptor):/, '').replace(/ secure$/, '')}: ${files}`;
}

function firmwareChecks(config: Config, arch: string): DoctorCheck[] {
  const dirs = [...config.firmware.descriptor_dirs];
  const inv = discoverFirmware({ firmwareMap: config.firmwareMap, descriptorDirs: dirs });
  const out: DoctorCheck[] = [];
  const descriptorFiles = listDescriptors(dirs, []).length;
  const descriptorProblems = inv.problems.filter((p) => p.source.startsWith('descriptor:'));
  if (!descriptorProblems.length) out.push(ok('firmware', `${descriptorFiles} QEMU firmware descriptor(s) in ${dirs.join(', ')}, all parsed`));
  for (const p of descriptorProblems) out.push(warn('firmware', `${p.source.slice('descriptor:'.length)}: ${p.message}`, '[firmware] descriptor_dirs'));
  for (const p of inv.problems.filter((x) => x.source.startsWith('config:'))) {
    const where = p.source.slice('config:'.length);
    const line = `${where}: ${p.message}`;
    out.push(p.severity === 'error' ? fail('firmware', line, mapOption(config, p)) : warn('firmware', line, mapOption(config, p)));
  }
  for (const e of inv.entries) out.push(ok('firmware', entryLine(e, inv.sizes)));
  if (!inv.entries.some((e) => e.arch === arch)) {
    out.push(
      fail(
        'firmware',
        `no usable UEFI firmware for this host's architecture (${arch})`,
        `[firmware:${arch}] loader and nvram_template, or [firmware] descriptor_dirs`,
      ),
    );
  }
  return out;
}

/** The key sets as `serve` loads them (server.loadKeysetsFor): one FAIL per problem, else one OK line. */
function keysetChecks(config: Config, arch: string): DoctorCheck[] {
  const inv = discoverFirmware({ firmwareMap: config.firmwareMap, descriptorDirs: [...config.firmware.descriptor_dirs] });
  const load = loadKeysets(config.secureBootKeysets, { now: new Date(), template: enrolledTemplate(inv, arch) });
  if (load.problems.length) {
    return load.problems.map((p) =>
      fail('keysets', `${p}: the sidecar refuses to start`, /^(\[[^\]]+\](?: \w+)?)/.exec(p)?.[1] ?? '[secure_boot_keyset:<name>]'),
    );
  }
  const names = [...load.keysets.keys()].sort();
  return [
    ok(
      'keysets',
      names.length
        ? `Secure Boot key sets: ${names.join(', ')}${load.notes.length ? `; ${load.notes.join('; ')}` : ''}`
        : load.notes.join('; ') || 'no key sets',
    ),
  ];
}

interface Account {
  name: string;
  uid: number;
  gid: number;
}

/** A user from /etc/passwd by name or uid; a bare uid that has no entry keeps its number as gid. */
async function lookupUser(value: string): Promise<Account | null> {
  const text = await fsp.readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length > 3 && (f[0] === value || f[2] === value)) return { name: f[0], uid: Number(f[2]), gid: Number(f[3]) };
  }
  return /^\d+$/.test(value) ? { name: value, uid: Number(value), gid: Number(value) } : null;
}

async function lookupGroup(value: string): Promise<number | null> {
  if (/^\d+$/.test(value)) return Number(value);
  const text = await fsp.readFile('/etc/group', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === value && f[2] !== undefined) return Number(f[2]);
  }
  return null;
}

/** The search (x) bit that applies to uid/gid on `st`. */
function canSearch(st: Stats, uid: number, gid: number): boolean {
  if (uid === 0) return true;
  if (st.uid === uid) return (st.mode & 0o100) !== 0;
  if (st.gid === gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

const modeOf = (st: Stats) => `0${(st.mode & 0o7777).toString(8)}`;

async function nvramDirChecks(config: Config): Promise<DoctorCheck[]> {
  const dir = path.resolve(config.nvram.nvram_dir);
  const st = await fsp.stat(dir).catch(() => null);
  if (!st) {
    const parent = await probeWritable(path.dirname(dir)).then(
      () => true,
      () => false,
    );
    return [
      parent
        ? warn('nvram_dir', `${dir} does not exist; the sidecar creates it (0755) at start`, '[nvram] nvram_dir')
        : fail('nvram_dir', `${dir} does not exist and ${path.dirname(dir)} takes no new directory`, '[nvram] nvram_dir'),
    ];
  }
  if (!st.isDirectory()) return [fail('nvram_dir', `${dir} is not a directory`, '[nvram] nvram_dir')];
  try {
    await probeWritable(dir);
  } catch (e) {
    return [fail('nvram_dir', `cannot create a file in ${dir} (${errText(e)})`, '[nvram] nvram_dir')];
  }
  const owner = config.nvram.owner;
  if (!owner) {
    const me = os.userInfo();
    return config.hypervisor.backend === 'libvirt'
      ? [
          warn(
            'nvram_dir',
            `${dir} is writable, but [nvram] owner is empty: stores are left owned by ${me.username}, and QEMU under libvirt runs as its own user (libvirt-qemu on Debian)`,
            '[nvram] owner',
          ),
        ]
      : [ok('nvram_dir', `${dir} is writable (owner ${st.uid}:${st.gid}, mode ${modeOf(st)}); embedded backend, no QEMU user to check`)];
  }
  const user = await lookupUser(owner);
  if (!user) return [fail('nvram_dir', `QEMU's user '${owner}' does not exist on this host`, '[nvram] owner')];
  const gid = config.nvram.group ? await lookupGroup(config.nvram.group) : user.gid;
  if (gid === null) return [fail('nvram_dir', `group '${config.nvram.group}' does not exist on this host`, '[nvram] group')];
  // QEMU opens <dir>/<name>_VARS.fd: it needs search permission on every directory on the way.
  const parts = dir.split(path.sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const at = path.sep + parts.slice(0, i).join(path.sep);
    const s = await fsp.stat(at);
    if (!canSearch(s, user.uid, gid)) {
      return [
        fail(
          'nvram_dir',
          `QEMU's user ${user.name} (uid ${user.uid}, gid ${gid}) cannot enter ${at} (owner ${s.uid}:${s.gid}, mode ${modeOf(s)}): it could not open its variable store`,
          `[nvram] owner (or chown/chmod ${at})`,
        ),
      ];
    }
  }
  const out: DoctorCheck[] = [
    ok(
      'nvram_dir',
      `${dir} is writable and QEMU's user ${user.name} (uid ${user.uid}) can reach it (owner ${st.uid}:${st.gid}, mode ${modeOf(st)}); stores are written 0${config.nvram.mode.toString(8)} ${user.uid}:${gid}`,
    ),
  ];
  const stores = (await fsp.readdir(dir)).filter((n) => n.endsWith('_VARS.fd') && !n.startsWith('.'));
  const foreign: string[] = [];
  for (const n of stores) {
    const s = await fsp.stat(path.join(dir, n)).catch(() => null);
    if (s && s.uid !== user.uid) foreign.push(n);
  }
  if (foreign.length) {
    out.push(
      warn(
        'nvram_dir',
        `${foreign.length} of ${stores.length} stores are not owned by ${user.name} (e.g. ${foreign[0]}): QEMU cannot write their variables`,
        `[nvram] owner (or chown the stores to ${user.name})`,
      ),
    );
  }
  return out;
}

async function stateDirCheck(config: Config): Promise<DoctorCheck> {
  const dir = path.resolve(config.hypervisor.state_dir);
  const st = await fsp.stat(dir).catch(() => null);
  if (!st) {
    return (await fsp.access(path.dirname(dir), fsc.W_OK).then(
      () => true,
      () => false,
    ))
      ? warn('state_dir', `${dir} does not exist; the sidecar creates it (0700) at start`, '[hypervisor] state_dir')
      : fail('state_dir', `${dir} does not exist and ${path.dirname(dir)} is not writable`, '[hypervisor] state_dir');
  }
  try {
    await probeWritable(dir);
  } catch (e) {
    return fail('state_dir', `cannot create a file in ${dir} (${errText(e)})`, '[hypervisor] state_dir');
  }
  return ok('state_dir', `${dir} is writable`);
}

async function hypervisorCheck(config: Config): Promise<DoctorCheck> {
  if (config.hypervisor.backend !== 'libvirt') return ok('hypervisor', 'embedded backend: no libvirt to reach');
  const hv = new LibvirtHypervisor({ uri: config.libvirt.connection_uri, virshPath: config.libvirt.virsh_path });
  try {
    return ok('hypervisor', await hv.probe());
  } catch (e) {
    return fail('hypervisor', errText(e), '[libvirt] connection_uri (or [libvirt] virsh_path)');
  }
}

const IP_RE = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]+)$/i;

async function peerChecks(config: Config): Promise<DoctorCheck[]> {
  const self = config.DEFAULT.host;
  const selfUrl = config.peer.hosts[self]?.replace(/\/+$/, '');
  // One ping per sidecar: names and IPs that map to one URL are checked together.
  const byUrl = new Map<string, string[]>();
  for (const [name, url] of Object.entries(config.peer.hosts)) {
    const u = url.replace(/\/+$/, '');
    if (name === self || u === selfUrl) continue;
    byUrl.set(u, [...(byUrl.get(u) ?? []), name]);
  }
  if (!byUrl.size) {
    return [
      config.peer.url_template
        ? warn(
            'peer',
            `no [peer] hosts listed; peers are found through url_template ${config.peer.url_template} when a migration names them, so none is checked`,
            '[peer] hosts',
          )
        : warn('peer', 'no peers configured: migrations to or from this host cannot run', '[peer] hosts or [peer] url_template'),
    ];
  }
  if (!config.peer.shared_secret) return [fail('peer', 'no shared secret: peers refuse every unsigned call', '[peer] shared_secret')];
  let client: PeerClient;
  try {
    client = new PeerClient(config);
  } catch (e) {
    return [fail('peer', errText(e), '[peer] ca_file')];
  }
  const max = config.peer.max_clock_skew;
  return Promise.all(
    [...byUrl].map(async ([url, names]): Promise<DoctorCheck> => {
      const name = names[0];
      const who = `${names.join(' / ')} (${url})`;
      const t0 = Date.now();
      try {
        const r = await peerApi(client).ping(name);
        const t1 = Date.now();
        const skew = Number(r.time) - (t0 + t1) / 2000;
        const line = `${who}: answers a signed ping in ${t1 - t0} ms as ${r.host}, clock ${skew >= 0 ? '+' : ''}${skew.toFixed(1)} s (max ${max} s)`;
        if (!Number.isFinite(skew)) return warn('peer', `${who}: answers, but sent no time`, '[peer] hosts');
        if (Math.abs(skew) > max) return fail('peer', line, '[peer] max_clock_skew (or synchronise the clocks: NTP)');
        if (Math.abs(skew) > max / 2) return warn('peer', line, '[peer] max_clock_skew (or synchronise the clocks: NTP)');
        if (r.host && r.host !== name && names.every((n) => !IP_RE.test(n) && n !== r.host)) {
          return warn('peer', `${line}; it calls itself ${r.host}, not ${name}`, '[peer] hosts');
        }
        return ok('peer', line);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        if (isNovaError(e) && e.type === 'NotAuthorized') {
          return fail(
            'peer',
            `${who}: refused the signed ping (${msg})`,
            /timestamp/.test(msg) ? '[peer] max_clock_skew (or synchronise the clocks: NTP)' : '[peer] shared_secret',
          );
        }
        if (isNovaError(e) && e.type === 'NotFound') return warn('peer', `${who}: answers but has no ping (an older sidecar)`, 'upgrade the peer');
        // PeerClient's message starts with the peer and its URL again.
        const why = msg.replace(/^peer \S+ \([^)]*\) /, '');
        return fail('peer', `${who}: ${why}`, /TLS certificate/.test(msg) ? '[peer] ca_file' : '[peer] hosts');
      }
    }),
  );
}

/** The option to change when the replica store does not answer (a refusal names the credentials). */
function replicaOption(config: Config, e: unknown): string {
  if (config.replica.backend === 'directory') return '[replica] path';
  const cause = (e as { cause?: { name?: string; $metadata?: { httpStatusCode?: number } } })?.cause;
  const status = cause?.$metadata?.httpStatusCode;
  if (status === 403 || /AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch/.test(cause?.name ?? '')) {
    return '[replica] access_key and secret_key (or secret_key_file)';
  }
  return status ? '[replica] bucket (or endpoint)' : '[replica] endpoint';
}

async function replicaCheck(config: Config): Promise<DoctorCheck> {
  const r = config.replica;
  if (r.backend === 'none') return ok('replica', 'no replica store ([replica] backend = none): variable stores live on this host only');
  let store: ReplicaStore;
  try {
    store = replicaStoreFor(config)!;
  } catch (e) {
    return fail('replica', errText(e), '[replica] secret_key_file');
  }
  let keyNote: string;
  try {
    const keys = loadKeyring(r.encryption_key_file, r.old_key_files);
    keyNote = `key ${keys.current.id}${keys.byId.size > 1 ? ` (+${keys.byId.size - 1} old)` : ''}`;
  } catch (e) {
    const msg = errText(e);
    return fail('replica', `${msg}: the sidecar refuses to start`, /old_key_files/.test(msg) ? '[replica] old_key_files' : '[replica] encryption_key_file');
  }
  const where = store.describe();
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const bound = r.timeout * 1000;
  try {
    const p = await Promise.race([
      store.probe(r.prefix),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${r.timeout} s`)), bound))),
    ]);
    const ms = Date.now() - t0;
    if (p.exists) return ok('replica', `${where}: ${p.detail} (${ms} ms); ${keyNote}`);
    if (r.backend === 's3') return warn('replica', `${where}: ${p.detail}; the sidecar creates it at start`, '[replica] bucket');
    // A directory the sidecar would create: fine on first use, but on a shared filesystem
    // that is not mounted it would keep the replicas on this very host.
    const parent = path.dirname(path.resolve(r.path));
    const creatable = await fsp.access(parent, fsc.W_OK).then(
      () => true,
      () => false,
    );
    return creatable
      ? warn('replica', `${where}: ${p.detail}; the sidecar creates it at start (if it should be on a shared filesystem, is that mounted?)`, '[replica] path')
      : fail('replica', `${where}: ${p.detail} and ${parent} takes no new directory`, '[replica] path');
  } catch (e) {
    // ReplicaUnavailable names the store and the request already.
    return fail('replica', isNovaError(e) ? e.message : `${where}: ${errText(e)}`, replicaOption(config, e));
  } finally {
    clearTimeout(timer);
  }
}
