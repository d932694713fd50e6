/**
 * @module firmware/host
 * This host's firmware: discovered once at start-up, re-read on GET /v1/host/firmware and
 * before a re-selection (a vanished loader must not be chosen again), and again for a new
 * configuration on reload (`discoverFor`, then `reconfigure`: the inventory is replaced in one
 * step, so a call sees the old map or the new one, never a mix), plus the few file facts the
 * decisions need (does a pinned file still exist, how large is a template). Selection itself
 * is pure and lives in `select.ts` and `pinning.ts`.
 */
import { accessSync, promises as fsp } from 'node:fs';
import type { Config } from '../config';
import type { FirmwareInventory, FirmwareSelection } from './types';
import { discoverFirmware } from './discover';
import { hostArch } from './machine';
import type { Logger } from '../util/log';

export class FirmwareHost {
  private inv: FirmwareInventory;
  readonly arch: string;
  private config: Config;

  constructor(
    config: Config,
    private readonly log: Logger,
    arch?: string,
  ) {
    this.arch = arch ?? hostArch();
    this.config = config;
    this.inv = this.discover();
  }

  /** `[firmware] secure_boot` of the configuration in force. */
  get secureBootEnabled(): boolean {
    return this.config.firmware.secure_boot;
  }

  private discover(): FirmwareInventory {
    return this.discoverFor(this.config);
  }

  /** What `config`'s map and descriptor directories would give, without adopting it. */
  discoverFor(config: Config): FirmwareInventory {
    return discoverFirmware({ firmwareMap: config.firmwareMap, descriptorDirs: [...config.firmware.descriptor_dirs] });
  }

  /** Adopt a reloaded configuration and the inventory `discoverFor` found for it, and log its problems. */
  reconfigure(config: Config, inv: FirmwareInventory): void {
    this.config = config;
    this.inv = inv;
    this.logProblems();
  }

  inventory(): FirmwareInventory {
    return this.inv;
  }

  refresh(): FirmwareInventory {
    this.inv = this.discover();
    return this.inv;
  }

  logProblems(): void {
    for (const p of this.inv.problems) {
      this.log[p.severity === 'error' ? 'error' : 'warning']('firmware problem', { source: p.source, arch: p.arch, problem: p.message });
    }
  }

  host(): { secureBootEnabled: boolean } {
    return { secureBootEnabled: this.secureBootEnabled };
  }

  /** Does a firmware file (loader, template) exist on this host? */
  exists(file: string): boolean {
    try {
      accessSync(file);
      return true;
    } catch {
      return false;
    }
  }

  /** Size of a template (or any firmware file), null when it is missing. */
  async fileSize(file: string | null | undefined): Promise<number | null> {
    if (!file) return null;
    const st = await fsp.stat(file).catch(() => null);
    return st ? st.size : null;
  }

  /**
   * Can this host run `fw` with a store of `storeSize` bytes? It must list the same loader in
   * its own firmware (map or descriptors), with a template of the same size (same code build:
   * QEMU maps the store as pflash beside the code). Returns the reason when not.
   */
  async whyCannotRun(fw: FirmwareSelection | null | undefined, storeSize: number | null | undefined): Promise<string | null> {
    if (!fw) return null;
    const mine = this.refresh().entries.filter((e) => e.executable === fw.loader && e.stateless === fw.stateless);
    if (!mine.length) return `loader ${fw.loader} is not in this host's firmware map or descriptors`;
    if (fw.stateless) return null;
    const sizes = await Promise.all(mine.map((e) => this.fileSize(e.nvramTemplate)));
    if (storeSize !== null && storeSize !== undefined && !sizes.includes(storeSize)) {
      return `this host pairs ${fw.loader} with ${sizes.filter((x) => x !== null).join('/') || 'no'}-byte templates, the guest's store is ${storeSize} bytes (different firmware build)`;
    }
    return null;
  }
}
