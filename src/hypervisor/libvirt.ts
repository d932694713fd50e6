/**
 * @module hypervisor/libvirt
 * The production backend: a real libvirtd through virsh. Domains are defined from explicit
 * XML; undefine always passes exactly one of `--keep-nvram` (redefinitions) or `--nvram`
 * (real delete): libvirt refuses both ("cannot both keep and delete nvram"), and refuses
 * neither for a domain with NVRAM ("cannot undefine domain with nvram"); nova.md 5.1.
 *
 * Deliberately not here: building XML (`domainXml/`), choosing NVRAM paths (`nvram/`),
 * matching libvirt's message strings (`libvirtErrors.ts`).
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { HypervisorError, storageError } from '../errors';
import { virshRunner, type VirshRunner } from './virsh';
import type { DomainInfo, Hypervisor, LiveMigrateOptions, StartOptions, UndefineOptions } from './types';
import { PowerState, type PowerStateCode } from '../nova/powerState';

/** `virsh domstate` words (virsh-domain-monitor.c) to Nova power states. virsh prints "idle" for VIR_DOMAIN_BLOCKED. */
const STATES: Record<string, PowerStateCode> = {
  running: PowerState.RUNNING,
  blocked: PowerState.RUNNING,
  idle: PowerState.RUNNING,
  'in shutdown': PowerState.RUNNING,
  paused: PowerState.PAUSED,
  'shut off': PowerState.SHUTDOWN,
  crashed: PowerState.CRASHED,
  pmsuspended: PowerState.SUSPENDED,
};

export function mapDomState(s: string): PowerStateCode {
  return STATES[s.trim().toLowerCase()] ?? PowerState.NOSTATE;
}

/** The undefine flag for a lifetime decision: exactly one, always. */
export function undefineFlag(opts: UndefineOptions): '--keep-nvram' | '--nvram' {
  if (typeof opts?.keepNvram !== 'boolean') throw new HypervisorError('nvram', 'undefine needs an explicit keepNvram decision');
  return opts.keepNvram ? '--keep-nvram' : '--nvram';
}

/** A probe is a liveness question: a daemon that needs longer than this is not ready. */
const PROBE_TIMEOUT_MS = 10_000;

/** `virsh version` output ("Using library: libvirt 9.0.0", "Running hypervisor: QEMU 7.2.0") in one line. */
export function describeVersion(out: string, uri: string): string {
  const lib = /Using library:\s*(.+)/.exec(out)?.[1]?.trim();
  const hv = /Running hypervisor:\s*(.+)/.exec(out)?.[1]?.trim();
  return [lib, hv].filter(Boolean).join(', ') + ` at ${uri}`;
}

export interface LibvirtHypervisorOptions {
  /** libvirt connection URI, e.g. `qemu:///system`. */
  uri: string;
  /** virsh binary (default `virsh` on PATH). */
  virshPath?: string;
  /** Injected runner (unit tests); defaults to `virshRunner(uri, virshPath)`. */
  runner?: VirshRunner;
  /** domstate polling interval while waiting for a graceful shutdown (default 500 ms). */
  pollIntervalMs?: number;
}

export class LibvirtHypervisor implements Hypervisor {
  readonly kind = 'libvirt' as const;
  readonly hypervisorType = 'QEMU';
  readonly namedByNova = false;
  readonly destinationXmlFromSidecar = true;
  readonly uri: string;
  private readonly virsh: VirshRunner;
  private readonly pollMs: number;
  constructor(opts: LibvirtHypervisorOptions) {
    this.uri = opts.uri;
    this.virsh = opts.runner ?? virshRunner(opts.uri, opts.virshPath);
    this.pollMs = opts.pollIntervalMs ?? 500;
  }

  /** Postcondition: the daemon at `uri` answers. Any failure is a `connect` HypervisorError naming the URI. */
  async init(): Promise<void> {
    try {
      // A freshly started libvirtd answers its first call only after probing QEMU (8-11 s here).
      await this.virsh(['version'], 60_000);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new HypervisorError('connect', `libvirt at ${this.uri} is unreachable (is libvirtd running?): ${why}`, { cause: e });
    }
  }

  /** `virsh version`: the library and hypervisor versions, or a `connect` HypervisorError. */
  async probe(): Promise<string> {
    let out: string;
    try {
      out = await this.virsh(['version'], PROBE_TIMEOUT_MS);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new HypervisorError('connect', `libvirt at ${this.uri} does not answer: ${why}`, { cause: e });
    }
    return describeVersion(out, this.uri);
  }

  private async withXmlFile<T>(xml: string, fn: (file: string) => Promise<T>): Promise<T> {
    const file = path.join(os.tmpdir(), `nova-uefi-shim-${randomBytes(6).toString('hex')}.xml`);
    // wx: never follow a planted file. A full or read-only /tmp is said as such (507), not a 500.
    await fsp.writeFile(file, xml, { mode: 0o600, flag: 'wx' }).catch(async (e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') await fsp.unlink(file).catch(() => undefined);
      throw storageError(file, 'write', e);
    });
    try {
      return await fn(file);
    } finally {
      await fsp.unlink(file).catch(() => undefined);
    }
  }

  async define(xml: string): Promise<void> {
    await this.withXmlFile(xml, (f) => this.virsh(['define', f]));
  }

  async start(name: string, opts: StartOptions = {}): Promise<void> {
    await this.virsh(['start', name, ...(opts.paused ? ['--paused'] : [])]);
  }

  /**
   * ACPI shutdown, then poll `domstate` until "shut off" (or the domain is gone, for a
   * transient one). true when that happened within `timeoutSec`; a guest that ignores ACPI
   * (the UEFI shell does) yields false and is left running for the caller to destroy.
   */
  async shutdown(name: string, timeoutSec: number): Promise<boolean> {
    try {
      await this.virsh(['shutdown', name]);
    } catch (e) {
      if (e instanceof HypervisorError && e.kind === 'not-running') return true;
      throw e;
    }
    const deadline = Date.now() + timeoutSec * 1000;
    for (;;) {
      const info = await this.getInfo(name);
      if (info === null || info.state === PowerState.SHUTDOWN) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  /** Hard power off. Idempotent: a domain that is not running, or not defined, is not an error. */
  async destroy(name: string): Promise<void> {
    try {
      await this.virsh(['destroy', name]);
    } catch (e) {
      if (e instanceof HypervisorError && (e.kind === 'not-running' || e.kind === 'no-domain')) return;
      throw e;
    }
  }

  async reboot(name: string): Promise<void> {
    await this.virsh(['reboot', name]);
  }

  async undefine(name: string, opts: UndefineOptions): Promise<void> {
    const flag = undefineFlag(opts);
    try {
      await this.virsh(['undefine', name, flag]);
    } catch (e) {
      if (e instanceof HypervisorError && e.kind === 'no-domain') return;
      throw e;
    }
  }

  async getInfo(name: string): Promise<DomainInfo | null> {
    try {
      const out = await this.virsh(['domstate', name]);
      return { name, state: mapDomState(out.split('\n')[0] ?? '') };
    } catch (e) {
      if (e instanceof HypervisorError && e.kind === 'no-domain') return null;
      throw e;
    }
  }

  async getXml(name: string): Promise<string | null> {
    try {
      return await this.virsh(['dumpxml', '--inactive', name]);
    } catch (e) {
      if (e instanceof HypervisorError && e.kind === 'no-domain') return null;
      throw e;
    }
  }

  async list(): Promise<string[]> {
    const out = await this.virsh(['list', '--all', '--name']);
    return out
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean)
      .sort();
  }

  /**
   * `virsh migrate --live --persistent --undefinesource [--xml F --persistent-xml F] NAME DEST
   * [--migrateuri URI]` (all supported by virsh 9.0). On success the guest runs on `destUri`,
   * is defined there and no longer defined here. QEMU carries the flash (NVRAM) contents in
   * the RAM stream and the destination rewrites its file at first resume; libvirt itself
   * never copies the file (libvirt-qemu-edk2.md section 4). `timeoutSec` bounds the virsh
   * call (it is killed, which makes libvirt abort the job), not QEMU's convergence.
   */
  async liveMigrate(name: string, opts: LiveMigrateOptions): Promise<void> {
    const head = ['migrate', '--live', '--persistent', '--undefinesource'];
    const tail = [name, opts.destUri, ...(opts.migrateUri ? ['--migrateuri', opts.migrateUri] : [])];
    const timeoutMs = (opts.timeoutSec ?? 600) * 1000;
    if (opts.persistXml) {
      // The same XML for the incoming guest (--xml, must stay ABI-compatible) and its persistent definition.
      await this.withXmlFile(opts.persistXml, (f) => this.virsh([...head, '--xml', f, '--persistent-xml', f, ...tail], timeoutMs));
    } else {
      await this.virsh([...head, ...tail], timeoutMs);
    }
  }
}
