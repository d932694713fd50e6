/**
 * Real libvirt "hosts" for tests, started through `scripts/libvirt-host.sh` (the one place
 * that knows how; host-setup.md):
 * - host A: the system virtlogd + libvirtd, `qemu:///system`, reused when it already answers;
 * - host B: a second libvirtd in a private mount namespace over `<stateDir>/{run,lib,etc,log,cache}`,
 *   reached as `qemu+unix:///system?socket=<stateDir>/run/libvirt-sock`. Its `nvramDir` is the
 *   host-side directory behind B's /var/lib/libvirt/qemu/nvram: code running outside B's
 *   namespace (a sidecar, a test) writes NVRAM files there, while domain XML for B keeps naming
 *   /var/lib/libvirt/qemu/nvram/... as B sees it.
 * `libvirtPrereqs()` / `libvirtAvailable()` say why not, so tests skip with a reason on
 * machines without root or the Debian packages.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SidecarProcess, TOKEN, SECRET } from './processes';

export const SYSTEM_URI = 'qemu:///system';
/** The NVRAM directory every daemon sees (libvirt's default `nvram_dir`). */
export const DAEMON_NVRAM_DIR = '/var/lib/libvirt/qemu/nvram';
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
export const HOST_SCRIPT = path.resolve(__dirname, '../../scripts/libvirt-host.sh');

export interface LibvirtHost {
  /** 'a' (system daemon) or 'b' (private namespace). */
  readonly id: 'a' | 'b';
  readonly uri: string;
  /** Host-side directory holding this daemon's /var/lib/libvirt/qemu/nvram. */
  readonly nvramDir: string;
  /** Host-side directory holding this daemon's /var/log/libvirt (QEMU logs in qemu/). */
  readonly logDir: string;
  /** Host B's state directory. */
  readonly stateDir?: string;
  /** How long the start call took (0-ish when reused). */
  readonly startMs: number;
}

/** null when real libvirt can be tried here, else the reason (for `this.skip()`). */
export function libvirtPrereqs(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (libvirtd and its NVRAM directory need root)';
  for (const f of ['/usr/sbin/libvirtd', '/usr/sbin/virtlogd', '/usr/bin/virsh', '/usr/bin/qemu-system-x86_64', OVMF_CODE, OVMF_VARS, '/usr/bin/unshare']) {
    if (!fs.existsSync(f)) return `${f} missing (run: scripts/libvirt-host.sh install)`;
  }
  return null;
}

/** Environment switch: set to 1 (CI does) and a real-libvirt suite fails instead of skipping. */
export const REQUIRE_ENV = 'NUS_REQUIRE_LIBVIRT';

/**
 * Skip the suite with a one-line reason, or fail it when `NUS_REQUIRE_LIBVIRT=1`: on CI a
 * missing package or a daemon that does not answer is a failure, not a silent skip.
 */
export function skipOrFail(ctx: Mocha.Context, why: string): never {
  if (process.env[REQUIRE_ENV] === '1') throw new Error(`real libvirt is required here (${REQUIRE_ENV}=1) but: ${why}`);
  console.log(`      skipped: ${why}`);
  ctx.skip();
}

/**
 * Run the script; resolves its KEY=VALUE lines. The bound covers a start that hangs, is
 * diagnosed and restarted once (2 × LIBVIRT_HOST_TIMEOUT plus the diagnosis). A diagnosis the
 * script printed on the way to a successful start is echoed, so the test log keeps it.
 */
function runScript(args: string[], timeoutMs = 240_000): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    execFile('/bin/bash', [HOST_SCRIPT, ...args], { timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`libvirt-host.sh ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`));
      if (String(stderr).includes('diagnosis for')) console.log(String(stderr).replace(/^/gm, '      '));
      const kv: Record<string, string> = {};
      for (const line of String(stdout).split('\n')) {
        const i = line.indexOf('=');
        if (i > 0) kv[line.slice(0, i)] = line.slice(i + 1);
      }
      resolve(kv);
    });
  });
}

async function start(id: 'a' | 'b', stateDir?: string): Promise<LibvirtHost> {
  const t0 = Date.now();
  const kv = await runScript(['start', id, ...(stateDir ? [stateDir] : [])]);
  if (!kv.URI || !kv.NVRAM_DIR) throw new Error(`libvirt-host.sh start ${id}: no URI/NVRAM_DIR in its output`);
  return { id, uri: kv.URI, nvramDir: kv.NVRAM_DIR, logDir: kv.LOG_DIR ?? '', stateDir, startMs: Date.now() - t0 };
}

/** Host A: the system daemon, started (virtlogd, libvirtd, first answer) unless it already answers. */
export function startHostA(): Promise<LibvirtHost> {
  return start('a');
}

/** Host B in `stateDir` (created and populated on first use; reused while its daemon answers). */
export function startHostB(stateDir: string): Promise<LibvirtHost> {
  return start('b', stateDir);
}

/** Destroy B's running guests and stop its daemons (pidfiles). Leaves `stateDir` in place. */
export async function stopHostB(stateDir: string): Promise<void> {
  await runScript(['stop', 'b', stateDir]);
}

/** Back-compat: start host A if needed; null when usable, else the reason. */
export async function libvirtAvailable(): Promise<string | null> {
  const why = libvirtPrereqs();
  if (why) return why;
  try {
    await startHostA();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Synchronous virsh against `uri` for test assertions and cleanup (execFile, never a shell). */
export function virshOn(uri: string, ...args: string[]): string {
  return execFileSync('virsh', ['-c', uri, '-q', ...args], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `virshOn(SYSTEM_URI, ...)`. */
export function virsh(...args: string[]): string {
  return virshOn(SYSTEM_URI, ...args);
}

/** Best-effort removal of a test domain (destroy, then undefine deleting its NVRAM). */
export function purgeDomain(uri: string, name: string): void {
  for (const args of [
    ['destroy', name],
    ['undefine', name, '--nvram'],
  ]) {
    try {
      virshOn(uri, ...args);
    } catch {
      /* not running / not defined */
    }
  }
}

export interface LibvirtSidecarOptions {
  /** The suite's scratch directory: the sidecar's own lives in `<root>/sidecar-<n>`. */
  root: string;
  n: 'a' | 'b';
  port: number;
  /** `[peer] hosts`, both sidecars. */
  peers: string;
  /** The libvirt host it serves; its host-side NVRAM directory is the sidecar's. */
  host: LibvirtHost;
  /** Lines added to the `[libvirt]` section (newline-terminated). */
  libvirt?: string;
  /** Sections appended to the file (newline-terminated). */
  extra?: string;
}

/**
 * A sidecar `compute-<n>` on the libvirt backend for a two-host e2e suite: its directory, a
 * serial-socket directory QEMU (libvirt-qemu) can use, and a conf file naming the daemon's
 * NVRAM directory, TCG on q35, the peers and the suite's own additions. Not started.
 */
export function libvirtSidecar(o: LibvirtSidecarOptions): SidecarProcess {
  const dir = path.join(o.root, `sidecar-${o.n}`);
  const ser = path.join(dir, 'serial');
  fs.mkdirSync(ser, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const owner = fs.statSync(DAEMON_NVRAM_DIR);
  fs.chownSync(ser, owner.uid, owner.gid);
  const conf = path.join(dir, 'shim.conf');
  fs.writeFileSync(
    conf,
    `[DEFAULT]\nhost = compute-${o.n}\ninstance_name_template = nus-e2e-%08x\n[api]\nhost = 127.0.0.1\nport = ${o.port}\nauth_token = ${TOKEN}\n` +
      `[hypervisor]\nbackend = libvirt\nstate_dir = ${dir}/state\n[nvram]\nnvram_dir = ${DAEMON_NVRAM_DIR}\nowner = libvirt-qemu\ngroup = libvirt-qemu\n` +
      `[libvirt]\nconnection_uri = qemu:///system\nvirt_type = qemu\nhw_machine_type = x86_64=q35\nserial_socket_dir = ${ser}\n${o.libvirt ?? ''}` +
      `[peer]\nhosts = ${o.peers}\nshared_secret = ${SECRET}\ntimeout = 60\n${o.extra ?? ''}`,
  );
  return new SidecarProcess(`compute-${o.n}`, o.port, dir, conf, o.host.nvramDir, undefined as never);
}
