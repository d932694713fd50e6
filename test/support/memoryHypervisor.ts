/**
 * An in-memory `Hypervisor` for the driver's unit tests (Nova's `virt/fake.py` idea, habit
 * R14): domains live in a Map (name → definition and power state), every call is appended to
 * `events` in order (`define:<name>`, `start:<name>`, `undefine:<name>:keep`, …) so a test
 * can assert the order of a flow, and `failNext` makes the next call of one operation throw.
 *
 * What it checks, as libvirt/QEMU would: `undefine` needs an explicit `keepNvram` boolean and
 * deletes the store named in the XML when it is false; `start` refuses a domain whose loader
 * is missing, or whose store is missing or does not have the template's size (QEMU maps both
 * as pflash). Unlike libvirt it never creates a missing store at start: the driver promises to
 * create it before the guest starts, and this fake makes that promise observable.
 *
 * Live migration: `liveMigrate` hands the definition (`persistXml`, else its own) and the store
 * bytes to the `MemoryHypervisor` registered in the shared `fabric` under `destHost`, which
 * writes the store at its XML's `<nvram>` path, defines the domain and marks it running; the
 * source then undefines, keeping its store file (`virsh migrate --undefinesource`), as the
 * embedded backend does. Does not touch records, journals or anything but store files.
 */
import * as fs from 'node:fs';
import { domainNameOf, readDomainFirmware } from '../../src/domainXml';
import { HypervisorError } from '../../src/errors';
import type { NvramStore } from '../../src/nvram/store';
import { PowerState, type PowerStateCode } from '../../src/nova/powerState';
import type { DomainInfo, Hypervisor, LiveMigrateOptions, StartOptions, UndefineOptions } from '../../src/hypervisor/types';

export type HypervisorOp = 'define' | 'start' | 'shutdown' | 'destroy' | 'reboot' | 'undefine' | 'liveMigrate';

export interface MemoryDomain {
  xml: string;
  state: PowerStateCode;
}

/** Hosts reachable by `liveMigrate`, by Nova host name. */
export type HypervisorFabric = Map<string, MemoryHypervisor>;

interface Fault {
  error: Error;
  /** liveMigrate only: complete the hand-over, then throw (libvirt reporting an error after the guest moved). */
  afterEffect: boolean;
}

export interface MemoryHypervisorOptions {
  nvram: NvramStore;
  /** Shared between the hosts of one test; this backend registers itself under `host`. */
  fabric?: HypervisorFabric;
  host?: string;
  /** Milliseconds every operation waits before acting (concurrency tests). */
  delayMs?: number;
}

export class MemoryHypervisor implements Hypervisor {
  readonly kind = 'embedded' as const;
  readonly hypervisorType = 'memory';
  readonly namedByNova = false;
  readonly destinationXmlFromSidecar = true;
  readonly domains = new Map<string, MemoryDomain>();
  /** Every call, in order: `<op>:<name>[:detail]`. Tests may push their own markers in between. */
  readonly events: string[] = [];
  /** What `shutdown` answers: false models a guest that ignores the ACPI request (it keeps running). */
  shutdownSucceeds = true;
  /** Called on the destination after an arriving guest's store was written and its domain defined. */
  afterArrive?: (name: string, storePath: string | null) => Promise<void> | void;
  delayMs: number;
  /** Operations running now, and the most seen at once. */
  inFlight = 0;
  peakInFlight = 0;
  private readonly faults = new Map<HypervisorOp, Fault[]>();
  private readonly nvram: NvramStore;
  private readonly fabric?: HypervisorFabric;

  async probe(): Promise<string> {
    return 'memory hypervisor';
  }

  constructor(opts: MemoryHypervisorOptions) {
    this.nvram = opts.nvram;
    this.fabric = opts.fabric;
    this.delayMs = opts.delayMs ?? 0;
    if (opts.fabric && opts.host) opts.fabric.set(opts.host, this);
  }

  /** The next call of `op` throws `error` (queued: two calls fail the next two). */
  failNext(op: HypervisorOp, error: Error = new HypervisorError('other', `injected ${op} failure`), opts: { afterEffect?: boolean } = {}): void {
    const q = this.faults.get(op) ?? [];
    q.push({ error, afterEffect: opts.afterEffect === true });
    this.faults.set(op, q);
  }

  /** The events recorded for one domain, without the name: `['define', 'start', 'undefine:keep']`. */
  eventsFor(name: string): string[] {
    return this.events
      .filter((e) => e.split(':')[1] === name || e === 'hook')
      .map((e) => (e === 'hook' ? e : [e.split(':')[0], ...e.split(':').slice(2)].join(':')));
  }

  stateOf(name: string): PowerStateCode | null {
    return this.domains.get(name)?.state ?? null;
  }

  /** Record the call, wait `delayMs`, then throw an injected fault that is not after-effect. */
  private async enter(op: HypervisorOp, event: string): Promise<Fault | undefined> {
    this.events.push(event);
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    try {
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    } finally {
      this.inFlight--;
    }
    const fault = this.faults.get(op)?.shift();
    if (fault && !fault.afterEffect) throw fault.error;
    return fault;
  }

  private must(name: string): MemoryDomain {
    const d = this.domains.get(name);
    if (!d) throw new HypervisorError('no-domain', `Domain not found: no domain with matching name '${name}'`);
    return d;
  }

  async init(): Promise<void> {}

  async define(xml: string): Promise<void> {
    const name = domainNameOf(xml);
    await this.enter('define', `define:${name}`);
    readDomainFirmware(xml); // malformed XML is refused, as by libvirt
    const old = this.domains.get(name);
    this.domains.set(name, { xml, state: old?.state ?? PowerState.SHUTDOWN });
  }

  async start(name: string, _opts?: StartOptions): Promise<void> {
    await this.enter('start', `start:${name}`);
    const d = this.must(name);
    if (d.state === PowerState.RUNNING) throw new HypervisorError('already-running', `domain '${name}' is already running`);
    const fw = readDomainFirmware(d.xml);
    if (fw.loader && !fs.existsSync(fw.loader.path)) throw new HypervisorError('other', `loader ${fw.loader.path} does not exist`);
    if (fw.loader && fw.nvram?.path) {
      const have = await this.nvram.sizeOf(fw.nvram.path);
      if (have === null) throw new HypervisorError('other', `store ${fw.nvram.path} does not exist (the driver creates it before start)`);
      const want = fw.nvram.template && fs.existsSync(fw.nvram.template) ? fs.statSync(fw.nvram.template).size : null;
      if (want !== null && want !== have) throw new HypervisorError('other', `pflash size mismatch: ${fw.nvram.path} is ${have} bytes, template is ${want}`);
    }
    d.state = PowerState.RUNNING;
  }

  async shutdown(name: string, _timeoutSec: number): Promise<boolean> {
    await this.enter('shutdown', `shutdown:${name}`);
    const d = this.must(name);
    if (!this.shutdownSucceeds) return false;
    d.state = PowerState.SHUTDOWN;
    return true;
  }

  async destroy(name: string): Promise<void> {
    await this.enter('destroy', `destroy:${name}`);
    const d = this.domains.get(name);
    if (d) d.state = PowerState.SHUTDOWN;
  }

  async reboot(name: string): Promise<void> {
    await this.enter('reboot', `reboot:${name}`);
    if (this.must(name).state !== PowerState.RUNNING) throw new HypervisorError('not-running', `domain '${name}' is not running`);
  }

  async undefine(name: string, opts: UndefineOptions): Promise<void> {
    if (typeof opts?.keepNvram !== 'boolean') throw new HypervisorError('nvram', 'cannot undefine domain with nvram');
    await this.enter('undefine', `undefine:${name}:${opts.keepNvram ? 'keep' : 'delete'}`);
    const d = this.domains.get(name);
    if (!d) return;
    if (!opts.keepNvram) {
      const p = readDomainFirmware(d.xml).nvram?.path;
      if (p) await this.nvram.remove(p);
    }
    this.domains.delete(name);
  }

  async getInfo(name: string): Promise<DomainInfo | null> {
    const d = this.domains.get(name);
    return d ? { name, state: d.state } : null;
  }

  async getXml(name: string): Promise<string | null> {
    return this.domains.get(name)?.xml ?? null;
  }

  async list(): Promise<string[]> {
    return [...this.domains.keys()].sort();
  }

  async liveMigrate(name: string, opts: LiveMigrateOptions): Promise<void> {
    const fault = await this.enter('liveMigrate', `liveMigrate:${name}:${opts.destHost}`);
    const d = this.must(name);
    const dest = this.fabric?.get(opts.destHost);
    if (!dest || dest === this) throw new HypervisorError('other', `no hypervisor reachable for host '${opts.destHost}'`);
    const store = readDomainFirmware(d.xml).nvram?.path;
    const bytes = store && (await this.nvram.exists(store)) ? await this.nvram.read(store) : null;
    await dest.arrive(opts.persistXml ?? d.xml, bytes);
    // --undefinesource: the definition goes, the store file stays for the driver to remove.
    this.domains.delete(name);
    if (fault) throw fault.error;
  }

  /** Destination side of `liveMigrate`: the store written at the XML's path, the domain defined and running. */
  async arrive(xml: string, store: Buffer | null): Promise<void> {
    const fw = readDomainFirmware(xml);
    const name = fw.name || domainNameOf(xml);
    this.events.push(`arrive:${name}`);
    const storePath = fw.nvram?.path ? this.nvram.checkPath(fw.nvram.path) : null;
    if (store && storePath) await this.nvram.writeBytes(storePath, store);
    this.domains.set(name, { xml, state: PowerState.RUNNING });
    await this.afterArrive?.(name, storePath);
  }
}
