/**
 * @module hypervisor/embedded
 * The zero-config backend: no VM runs, and the NVRAM files are the same real files production
 * uses. Definitions and runtime power states are kept as libvirt keeps them (`DomainBook`).
 * It mirrors the libvirt behaviours the driver relies on: start fails when the loader
 * is missing or the store's size does not fit the template (QEMU maps both as pflash), a
 * missing store is created from `<nvram template>` at start (qemuPrepareNVRAM), undefine
 * refuses to run without exactly one NVRAM flag, and `keepNvram: false` deletes the store.
 *
 * Live migration stands in for QEMU's stream: the source sends the destination definition
 * and the flash contents through `IncomingStream` (a signed call to the destination
 * sidecar), whose backend accepts it (`acceptIncoming`: here the store is written, the
 * domain defined and marked running); then the source undefines its domain, keeping its
 * store file, as `virsh migrate --undefinesource` does.
 */
import { statSync, type Stats } from 'node:fs';
import { DomainBook, type StoredDomain } from './domainBook';
import { HypervisorError } from '../errors';
import { domainNameOf, readDomainFirmware, type DomainFirmwareView } from '../domainXml';
import type { NvramStore } from '../nvram/store';
import type { FaultPoints } from '../util/faults';
import { encodeNvram, decodeNvram } from '../peer/transfer';
import type { DomainInfo, Hypervisor, IncomingGuest, IncomingStream, LiveMigrateOptions, StartOptions, UndefineOptions } from './types';
import { PowerState } from '../nova/powerState';

function statOrNull(p: string): Stats | null {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}

export class EmbeddedHypervisor implements Hypervisor {
  readonly kind = 'embedded' as const;
  readonly hypervisorType = 'embedded';
  readonly namedByNova = false;
  readonly destinationXmlFromSidecar = true;
  private readonly book: DomainBook;
  /** name → the firmware facts of the XML they were read from (start reads them every time). */
  private readonly firmware = new Map<string, { xml: string; fw: DomainFirmwareView }>();

  constructor(
    stateDir: string,
    private readonly nvram: NvramStore,
    private readonly stream?: IncomingStream,
    private readonly faults?: FaultPoints,
  ) {
    this.book = new DomainBook(stateDir);
  }

  init(): Promise<void> {
    return this.book.init();
  }

  /** No daemon to ask: answers while its domain directory is there. */
  async probe(): Promise<string> {
    await this.book.access();
    return 'embedded backend (domains are records; no libvirt)';
  }

  private firmwareOf(d: Readonly<StoredDomain>): DomainFirmwareView {
    const hit = this.firmware.get(d.name);
    if (hit && hit.xml === d.xml) return hit.fw;
    const fw = readDomainFirmware(d.xml);
    this.firmware.set(d.name, { xml: d.xml, fw });
    return fw;
  }

  /** Define or redefine: the definition is replaced durably, the power state is kept. */
  async define(xml: string): Promise<void> {
    const fw = readDomainFirmware(xml);
    const name = fw.name || domainNameOf(xml);
    await this.book.write(name, xml);
    this.firmware.set(name, { xml, fw });
  }

  async start(name: string, opts: StartOptions = {}): Promise<void> {
    const d = await this.book.must(name);
    const cur = this.book.stateOf(d);
    if (cur === PowerState.RUNNING || cur === PowerState.PAUSED) {
      throw new HypervisorError('already-running', `Requested operation is not valid: domain '${name}' is already running`);
    }
    const fw = this.firmwareOf(d);
    // Local stats, synchronously: each is cheaper than a thread-pool round trip.
    if (fw.loader) {
      if (!statOrNull(fw.loader.path)) throw new HypervisorError('other', `loader ${fw.loader.path} does not exist`);
      if (fw.nvram?.path) {
        const store = this.nvram.checkPath(fw.nvram.path);
        let v = statOrNull(store);
        if (!v) {
          if (!fw.nvram.template) throw new HypervisorError('other', `unable to find any master var store for loader: ${fw.loader.path}`);
          await this.nvram.createFromTemplate(store, fw.nvram.template);
          v = statSync(store);
        }
        const t = fw.nvram.template ? statOrNull(fw.nvram.template) : null;
        if (t && t.size !== v.size) {
          throw new HypervisorError('other', `pflash size mismatch: ${fw.nvram.path} is ${v.size} bytes, template ${fw.nvram.template} is ${t.size}`);
        }
      }
    }
    this.book.setState(name, opts.paused ? PowerState.PAUSED : PowerState.RUNNING);
  }

  async shutdown(name: string, _timeoutSec: number): Promise<boolean> {
    await this.book.shutDown(name);
    return true;
  }

  destroy(name: string): Promise<void> {
    return this.book.pullPlug(name);
  }

  async reboot(name: string): Promise<void> {
    const d = await this.book.must(name);
    if (this.book.stateOf(d) !== PowerState.RUNNING)
      throw new HypervisorError('not-running', `Requested operation is not valid: domain '${name}' is not running`);
  }

  async undefine(name: string, opts: UndefineOptions): Promise<void> {
    if (typeof opts?.keepNvram !== 'boolean') throw new HypervisorError('nvram', 'cannot undefine domain with nvram');
    await this.book.undefine(
      name,
      opts.keepNvram,
      (d) => this.firmwareOf(d).nvram?.path,
      (p) => this.nvram.remove(p),
    );
    this.firmware.delete(name);
  }

  async getInfo(name: string): Promise<DomainInfo | null> {
    const d = await this.book.load(name);
    return d ? { name, state: this.book.stateOf(d) } : null;
  }

  async getXml(name: string): Promise<string | null> {
    return (await this.book.load(name))?.xml ?? null;
  }

  list(): Promise<string[]> {
    return this.book.keys();
  }

  /** Source: send the definition and the flash contents, then undefine here keeping the store file. */
  async liveMigrate(name: string, opts: LiveMigrateOptions): Promise<void> {
    const d = await this.book.must(name);
    if (!this.stream) throw new HypervisorError('other', 'live migration is not configured: this embedded backend has no [peer] link');
    const store = this.firmwareOf(d).nvram?.path;
    const have = store ? statOrNull(this.nvram.checkPath(store)) : null;
    const nvram = store && have ? encodeNvram(await this.nvram.read(store)) : null;
    await this.stream.send(opts.destHost, { domain_xml: opts.persistXml ?? d.xml, nvram });
    this.faults?.hit('live:arrived-before-undefine');
    await this.destroy(name);
    await this.undefine(name, { keepNvram: true });
  }

  /** Destination: the arriving guest's store written, its domain defined and running. */
  async acceptIncoming(guest: IncomingGuest): Promise<void> {
    const fw = readDomainFirmware(guest.domain_xml);
    if (guest.nvram && fw.nvram?.path) await this.nvram.writeBytes(this.nvram.checkPath(fw.nvram.path), decodeNvram(guest.nvram));
    await this.define(guest.domain_xml);
    const name = fw.name || domainNameOf(guest.domain_xml);
    if ((await this.getInfo(name))?.state !== PowerState.RUNNING) await this.start(name);
  }
}
