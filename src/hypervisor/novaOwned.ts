/**
 * @module hypervisor/novaOwned
 * The backend of `[hypervisor] backend = nova`: the domain belongs to Nova. nova-compute's
 * libvirt driver (with the `uefi_shim.UEFIShimDriver` subclass in `nova-driver/`) defines,
 * starts, stops, migrates and undefines the guest; the sidecar owns the firmware choice (the
 * pin), the variable store file and moving that file between hosts. The driver's flows and
 * the cold-boot path run unchanged on this backend; only what "define" or "start" means changes:
 *
 * - `define` records the definition the sidecar chose (firmware pin, store path) without
 *   touching libvirt: the Python driver applies the same firmware to the XML Nova defines;
 * - `start`, `shutdown`, `destroy` record the power state Nova reports through the calls it
 *   makes (the Python driver calls after Nova's own operation succeeded); a redefinition
 *   keeps it. With `[hypervisor] nova_power_state = libvirt` the state is read from libvirt
 *   read-only instead (`virsh --readonly domstate`), falling back to the recorded one when
 *   libvirt does not answer. The NVRAM write guard reads this state;
 * - `undefine` forgets the definition and never deletes the store unless `keepNvram` is false;
 * - `liveMigrate` moves nothing (Nova's libvirt moved the guest, and the destination's QEMU
 *   writes its store): it tells the destination sidecar that the guest arrived (the
 *   definition only, through the signed `IncomingStream`) and forgets the definition here,
 *   keeping the store file until the driver has verified the destination's copy.
 *
 * Deliberately not here: any libvirt call that changes something. This backend never writes
 * to libvirt, and never writes a store file except the delete `undefine(keepNvram: false)` asks for.
 */
import { domainNameOf, readDomainFirmware } from '../domainXml';
import { HypervisorError } from '../errors';
import type { NvramStore } from '../nvram/store';
import { PowerState, type PowerStateCode } from '../nova/powerState';
import { DomainBook } from './domainBook';
import { mapDomState } from './libvirt';
import type { VirshRunner } from './virsh';
import type { DomainInfo, Hypervisor, IncomingGuest, IncomingStream, LiveMigrateOptions, StartOptions, UndefineOptions } from './types';

/** How long a read-only power-state query may take before the recorded state is used. */
const PROBE_TIMEOUT_MS = 10_000;

export interface NovaOwnedOptions {
  stateDir: string;
  nvram: NvramStore;
  /** Reaches the destination sidecar on live migration. */
  stream?: IncomingStream;
  /** A virsh runner for read-only power-state queries (`nova_power_state = libvirt`); absent: the recorded state. */
  probe?: VirshRunner;
}

export class NovaOwnedHypervisor implements Hypervisor {
  readonly kind = 'nova' as const;
  readonly hypervisorType = 'QEMU';
  readonly namedByNova = true;
  readonly destinationXmlFromSidecar = false;
  private readonly book: DomainBook;
  private readonly nvram: NvramStore;
  private readonly stream?: IncomingStream;
  private readonly stateQuery?: VirshRunner;

  constructor(opts: NovaOwnedOptions) {
    this.book = new DomainBook(opts.stateDir);
    this.nvram = opts.nvram;
    this.stream = opts.stream;
    this.stateQuery = opts.probe;
  }

  init(): Promise<void> {
    return this.book.init();
  }

  /**
   * No daemon of ours to ask (libvirt is Nova's): answers while the domain book is there.
   * Readiness does not wait on libvirt here; a power-state query that fails falls back to
   * the recorded state.
   */
  async probe(): Promise<string> {
    await this.book.access();
    return `nova backend (Nova owns the domains; power state ${this.stateQuery ? 'from libvirt, read-only' : 'as recorded'})`;
  }

  /** Record the definition (no libvirt call); a redefinition keeps the recorded power state. */
  async define(xml: string): Promise<void> {
    await this.book.write(readDomainFirmware(xml).name || domainNameOf(xml), xml);
  }

  /** Nova started (or is about to start) the guest it defined. Idempotent. */
  async start(name: string, opts: StartOptions = {}): Promise<void> {
    await this.book.must(name);
    this.book.setState(name, opts.paused ? PowerState.PAUSED : PowerState.RUNNING);
  }

  /** Nova shut the guest down: always "within the timeout", Nova waited for it. */
  async shutdown(name: string, _timeoutSec: number): Promise<boolean> {
    await this.book.shutDown(name);
    return true;
  }

  destroy(name: string): Promise<void> {
    return this.book.pullPlug(name);
  }

  /** A soft reboot leaves the guest running: nothing to record. */
  async reboot(name: string): Promise<void> {
    await this.book.must(name);
  }

  async undefine(name: string, opts: UndefineOptions): Promise<void> {
    if (typeof opts?.keepNvram !== 'boolean') throw new HypervisorError('nvram', 'undefine needs an explicit keepNvram decision');
    await this.book.undefine(
      name,
      opts.keepNvram,
      (d) => readDomainFirmware(d.xml).nvram?.path,
      (p) => this.nvram.remove(p),
    );
  }

  async getInfo(name: string): Promise<DomainInfo | null> {
    const d = await this.book.load(name);
    if (!d) return null;
    return { name, state: (await this.queryState(name)) ?? this.book.stateOf(d) };
  }

  /**
   * libvirt's word on the guest's state, or null when there is no probe or libvirt does not
   * answer. A domain libvirt does not know (not defined yet, or undefined for a moment during
   * a hard reboot) runs no QEMU, so nothing holds its store: SHUTDOWN.
   */
  private async queryState(name: string): Promise<PowerStateCode | null> {
    if (!this.stateQuery) return null;
    try {
      const out = await this.stateQuery(['--readonly', 'domstate', name], PROBE_TIMEOUT_MS);
      const st = mapDomState(out.split('\n')[0] ?? '');
      return st === PowerState.NOSTATE ? null : st;
    } catch (e) {
      if (e instanceof HypervisorError && e.kind === 'no-domain') return PowerState.SHUTDOWN;
      return null;
    }
  }

  async getXml(name: string): Promise<string | null> {
    return (await this.book.load(name))?.xml ?? null;
  }

  list(): Promise<string[]> {
    return this.book.keys();
  }

  /** Nova moved the guest: tell the destination sidecar it arrived, forget it here (the store stays). */
  async liveMigrate(name: string, opts: LiveMigrateOptions): Promise<void> {
    const d = await this.book.must(name);
    if (!this.stream) throw new HypervisorError('other', 'live migration is not configured: this sidecar has no [peer] link');
    await this.stream.send(opts.destHost, { domain_xml: opts.persistXml ?? d.xml, nvram: null });
    await this.book.remove(name);
  }

  /** Destination: record the arrived guest's definition, running. The store is QEMU's to write, never touched here. */
  async acceptIncoming(guest: IncomingGuest): Promise<void> {
    const name = readDomainFirmware(guest.domain_xml).name || domainNameOf(guest.domain_xml);
    await this.book.write(name, guest.domain_xml);
    this.book.setState(name, PowerState.RUNNING);
  }
}
