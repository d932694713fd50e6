/**
 * @module hypervisor/embedded
 * The zero-config backend: domains are records (XML + power state) under
 * `<state_dir>/domains`, no VM runs, and the NVRAM files are the same real files production
 * uses. It mirrors the libvirt behaviours the driver relies on: start fails when the loader
 * is missing or the store's size does not fit the template (QEMU maps both as pflash), a
 * missing store is created from `<nvram template>` at start (qemuPrepareNVRAM), undefine
 * refuses to run without exactly one NVRAM flag, and `keepNvram: false` deletes the store.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { JsonDir } from '../state/jsonDir';
import { HypervisorError } from '../errors';
import { domainNameOf, readDomainFirmware } from '../domainXml';
import type { NvramStore } from '../nvram/store';
import { PowerState, type DomainInfo, type Hypervisor, type LiveMigrateOptions, type PowerStateCode, type StartOptions, type UndefineOptions } from './types';

interface StoredDomain {
  name: string;
  xml: string;
  state: PowerStateCode;
}

export class EmbeddedHypervisor implements Hypervisor {
  readonly kind = 'embedded' as const;
  private readonly docs: JsonDir<StoredDomain>;

  constructor(stateDir: string, private readonly nvram: NvramStore) {
    this.docs = new JsonDir(path.join(path.resolve(stateDir), 'domains'));
  }

  init(): Promise<void> {
    return this.docs.init();
  }

  private load(name: string): Promise<StoredDomain | null> {
    return this.docs.read(name);
  }

  private async must(name: string): Promise<StoredDomain> {
    const d = await this.load(name);
    if (!d) throw new HypervisorError('no-domain', `Domain not found: no domain with matching name '${name}'`);
    return d;
  }

  private save(d: StoredDomain): Promise<void> {
    return this.docs.write(d.name, d);
  }

  async define(xml: string): Promise<void> {
    const name = domainNameOf(xml);
    const old = await this.load(name);
    await this.save({ name, xml, state: old?.state ?? PowerState.SHUTDOWN });
  }

  async start(name: string, opts: StartOptions = {}): Promise<void> {
    const d = await this.must(name);
    if (d.state === PowerState.RUNNING || d.state === PowerState.PAUSED) {
      throw new HypervisorError('already-running', `Requested operation is not valid: domain '${name}' is already running`);
    }
    const fw = readDomainFirmware(d.xml);
    if (fw.loader) {
      const code = await fsp.stat(fw.loader.path).catch(() => null);
      if (!code) throw new HypervisorError('other', `loader ${fw.loader.path} does not exist`);
      if (fw.nvram?.path) {
        if (!(await this.nvram.exists(fw.nvram.path))) {
          if (!fw.nvram.template) throw new HypervisorError('other', `unable to find any master var store for loader: ${fw.loader.path}`);
          await this.nvram.createFromTemplate(fw.nvram.path, fw.nvram.template);
        }
        if (fw.nvram.template) {
          const [t, v] = await Promise.all([fsp.stat(fw.nvram.template).catch(() => null), fsp.stat(this.nvram.checkPath(fw.nvram.path))]);
          if (t && t.size !== v.size) {
            throw new HypervisorError('other', `pflash size mismatch: ${fw.nvram.path} is ${v.size} bytes, template ${fw.nvram.template} is ${t.size}`);
          }
        }
      }
    }
    d.state = opts.paused ? PowerState.PAUSED : PowerState.RUNNING;
    await this.save(d);
  }

  async shutdown(name: string, _timeoutSec: number): Promise<boolean> {
    const d = await this.must(name);
    d.state = PowerState.SHUTDOWN;
    await this.save(d);
    return true;
  }

  async destroy(name: string): Promise<void> {
    const d = await this.load(name);
    if (!d || d.state === PowerState.SHUTDOWN) return;
    d.state = PowerState.SHUTDOWN;
    await this.save(d);
  }

  async reboot(name: string): Promise<void> {
    const d = await this.must(name);
    if (d.state !== PowerState.RUNNING) throw new HypervisorError('not-running', `Requested operation is not valid: domain '${name}' is not running`);
  }

  async undefine(name: string, opts: UndefineOptions): Promise<void> {
    if (typeof opts?.keepNvram !== 'boolean') throw new HypervisorError('nvram', 'cannot undefine domain with nvram');
    const d = await this.load(name);
    if (!d) return;
    if (!opts.keepNvram) {
      const fw = readDomainFirmware(d.xml);
      if (fw.nvram?.path) await this.nvram.remove(fw.nvram.path);
    }
    await this.docs.remove(name);
  }

  async getInfo(name: string): Promise<DomainInfo | null> {
    const d = await this.load(name);
    return d ? { name, state: d.state } : null;
  }

  async getXml(name: string): Promise<string | null> {
    return (await this.load(name))?.xml ?? null;
  }

  list(): Promise<string[]> {
    return this.docs.keys();
  }

  /** Embedded live migration is simulated by the driver through peer calls; nothing to do here. */
  async liveMigrate(name: string, _opts: LiveMigrateOptions): Promise<void> {
    await this.must(name);
  }
}
