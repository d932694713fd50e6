/**
 * @module hypervisor/libvirt
 * The production backend: a real libvirtd through virsh. Domains are defined from explicit
 * XML; undefine always passes exactly one of `--keep-nvram` (redefinitions) or `--nvram`
 * (real delete): libvirt refuses both, and refuses neither for a domain with NVRAM.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { HypervisorError } from '../errors';
import { virshRunner, type VirshRunner } from './virsh';
import { PowerState, type DomainInfo, type Hypervisor, type LiveMigrateOptions, type PowerStateCode, type StartOptions, type UndefineOptions } from './types';

const STATES: Record<string, PowerStateCode> = {
  running: PowerState.RUNNING,
  blocked: PowerState.RUNNING,
  'in shutdown': PowerState.RUNNING,
  idle: PowerState.RUNNING,
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

export class LibvirtHypervisor implements Hypervisor {
  readonly kind = 'libvirt' as const;
  private readonly virsh: VirshRunner;
  constructor(opts: { uri: string; virshPath?: string; runner?: VirshRunner }) {
    this.virsh = opts.runner ?? virshRunner(opts.uri, opts.virshPath);
  }

  async init(): Promise<void> {
    await this.virsh(['version'], 60_000);
  }

  private async withXmlFile<T>(xml: string, fn: (file: string) => Promise<T>): Promise<T> {
    const file = path.join(os.tmpdir(), `nova-uefi-shim-${randomBytes(6).toString('hex')}.xml`);
    await fsp.writeFile(file, xml, { mode: 0o600 });
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

  async shutdown(name: string, timeoutSec: number): Promise<boolean> {
    try {
      await this.virsh(['shutdown', name]);
    } catch (e) {
      if (e instanceof HypervisorError && e.kind === 'not-running') return true;
      throw e;
    }
    const deadline = Date.now() + timeoutSec * 1000;
    while (Date.now() < deadline) {
      if ((await this.getInfo(name))?.state !== PowerState.RUNNING) return true;
      await new Promise((r) => setTimeout(r, 500));
    }
    return false;
  }

  async destroy(name: string): Promise<void> {
    try {
      await this.virsh(['destroy', name]);
    } catch (e) {
      if (e instanceof HypervisorError && (e.kind === 'not-running' || e.kind === 'no-domain' || e.kind === 'operation-invalid')) return;
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
    return out.split('\n').map((s) => s.trim()).filter(Boolean).sort();
  }

  /** `virsh migrate --live --persistent --undefinesource` to the destination libvirt. */
  async liveMigrate(name: string, opts: LiveMigrateOptions): Promise<void> {
    const args = ['migrate', '--live', '--persistent', '--undefinesource', '--verbose', name, opts.destUri];
    if (opts.migrateUri) args.push('--migrateuri', opts.migrateUri);
    const timeoutMs = (opts.timeoutSec ?? 600) * 1000;
    if (opts.persistXml) {
      // The same XML for the running guest (--xml) and its persistent definition.
      await this.withXmlFile(opts.persistXml, (f) => this.virsh([...args, '--xml', f, '--persistent-xml', f], timeoutMs));
    } else {
      await this.virsh(args, timeoutMs);
    }
  }
}
