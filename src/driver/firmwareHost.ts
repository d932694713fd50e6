/**
 * @module driver/firmwareHost
 * This host's firmware: discovered once at start-up, re-read on GET /v1/host/firmware and
 * before a re-selection (a vanished loader must not be chosen again). Selection itself is
 * pure and lives in `firmware/`.
 */
import type { Config } from '../config';
import type { FirmwareInventory } from '../firmware/types';
import { discoverFirmware, hostArch } from '../firmware';
import type { Logger } from '../util/log';

export class FirmwareHost {
  private inv: FirmwareInventory;
  readonly arch: string;
  readonly secureBootEnabled: boolean;

  constructor(private readonly config: Config, private readonly log: Logger, arch?: string) {
    this.arch = arch ?? hostArch();
    this.secureBootEnabled = config.firmware.secure_boot;
    this.inv = this.discover();
  }

  private discover(): FirmwareInventory {
    const inv = discoverFirmware({ firmwareMap: this.config.firmwareMap, descriptorDirs: [...this.config.firmware.descriptor_dirs] });
    return inv;
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
}
