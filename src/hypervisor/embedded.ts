/**
 * @module hypervisor/embedded
 * The zero-config backend: no VM runs, and the NVRAM files are the same real files production
 * uses. Like libvirt, it keeps two things per domain:
 * - the persistent definition (`<state_dir>/domains/<name>.json`: name and XML), written
 *   durably, as libvirt writes `/etc/libvirt/qemu/<name>.xml`;
 * - the runtime power state (`<state_dir>/run/domains/<name>.state`), like libvirt's status
 *   file under `/run`: kept in memory and in that file, not fsynced, so it survives a
 *   sidecar restart, while after a power loss a domain whose state did not reach the disk is
 *   shut off, which is what a power loss does to a VM. An unreadable state is shut off too.
 *   Definitions written before this split carry a `state` field, read when no state file exists.
 * It mirrors the libvirt behaviours the driver relies on: start fails when the loader
 * is missing or the store's size does not fit the template (QEMU maps both as pflash), a
 * missing store is created from `<nvram template>` at start (qemuPrepareNVRAM), undefine
 * refuses to run without exactly one NVRAM flag, and `keepNvram: false` deletes the store.
 *
 * Live migration stands in for QEMU's stream: the source sends the destination definition
 * and the flash contents through `EmbeddedStream` (a signed call to the destination
 * sidecar), whose embedded backend writes the store, defines the domain and marks it
 * running (`acceptIncoming`); then the source undefines its domain, keeping its store file,
 * as `virsh migrate --undefinesource` does. Only a sidecar on this backend serves the
 * receiving end.
 */
import { promises as fsp, closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import { JsonDir } from '../util/jsonDir';
import { HypervisorError } from '../errors';
import { domainNameOf, readDomainFirmware, type DomainFirmwareView } from '../domainXml';
import type { NvramStore } from '../nvram/store';
import type { FaultPoints } from '../util/faults';
import { encodeNvram, decodeNvram, type NvramPayload } from '../peer/transfer';
import type { DomainInfo, Hypervisor, LiveMigrateOptions, StartOptions, UndefineOptions } from './types';
import { PowerState, type PowerStateCode } from '../nova/powerState';

/** What the stand-in for QEMU's migration stream carries to the destination. */
export interface IncomingGuest {
  /** The destination's definition (its store path). */
  domain_xml: string;
  /** The flash contents at hand-over; null for a guest without a store. */
  nvram: NvramPayload | null;
}

/** How the embedded backend reaches the embedded backend of another host. */
export interface EmbeddedStream {
  send(destHost: string, guest: IncomingGuest): Promise<void>;
}

interface StoredDomain {
  name: string;
  xml: string;
  /** Only in definitions written before the runtime state had its own file. */
  state?: PowerStateCode;
}

const STATES = new Set<number>(Object.values(PowerState));

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
  private readonly docs: JsonDir<StoredDomain>;
  private readonly runDir: string;
  /** name → power state, as in the state file (loaded on first use). */
  private readonly states = new Map<string, PowerStateCode>();
  /** name → the firmware facts of the XML they were read from (start reads them every time). */
  private readonly firmware = new Map<string, { xml: string; fw: DomainFirmwareView }>();

  constructor(
    stateDir: string,
    private readonly nvram: NvramStore,
    private readonly stream?: EmbeddedStream,
    private readonly faults?: FaultPoints,
  ) {
    this.docs = new JsonDir(path.join(path.resolve(stateDir), 'domains'));
    this.runDir = path.join(path.resolve(stateDir), 'run', 'domains');
  }

  async init(): Promise<void> {
    await this.docs.init();
    mkdirSync(this.runDir, { recursive: true, mode: 0o700 });
  }

  /** No daemon to ask: answers while its domain directory is there. */
  async probe(): Promise<string> {
    await fsp.access(this.docs.dir);
    return 'embedded backend (domains are records; no libvirt)';
  }

  /** Definitions are only read here, never changed in place: the shared frozen copy. */
  private load(name: string): Promise<Readonly<StoredDomain> | null> {
    return this.docs.peek(name);
  }

  private stateFile(name: string): string {
    return path.join(this.runDir, `${name}.state`);
  }

  /** The runtime state of a defined domain (its definition `d`). */
  private stateOf(d: StoredDomain): PowerStateCode {
    let st = this.states.get(d.name);
    if (st === undefined) {
      let text: string | null = null;
      try {
        text = readFileSync(this.stateFile(d.name), 'utf8');
      } catch {
        // no state file: a legacy definition's state, else shut off
      }
      const n = text === null ? (d.state ?? PowerState.SHUTDOWN) : Number(text.trim());
      st = STATES.has(n) ? (n as PowerStateCode) : PowerState.SHUTDOWN;
      this.states.set(d.name, st);
    }
    return st;
  }

  /**
   * Record a power state: memory first, then the state file, overwritten in place with one
   * two-byte write (a single digit and a newline: it cannot tear), not fsynced (runtime
   * state, see the module note). Synchronous, so two changes of one domain cannot land out
   * of order; creating the file is the only step that costs more than a few microseconds.
   */
  private setState(name: string, st: PowerStateCode): void {
    this.states.set(name, st);
    const file = this.stateFile(name);
    let fd: number;
    try {
      try {
        fd = openSync(file, 'r+');
      } catch {
        fd = openSync(file, 'w', 0o600);
      }
      try {
        writeSync(fd, `${st}\n`, 0);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      throw new HypervisorError('other', `cannot record the power state of '${name}': ${(e as Error).message}`);
    }
  }

  private dropState(name: string): void {
    this.states.delete(name);
    this.firmware.delete(name);
    try {
      unlinkSync(this.stateFile(name));
    } catch {
      // already gone
    }
  }

  private firmwareOf(d: StoredDomain): DomainFirmwareView {
    const hit = this.firmware.get(d.name);
    if (hit && hit.xml === d.xml) return hit.fw;
    const fw = readDomainFirmware(d.xml);
    this.firmware.set(d.name, { xml: d.xml, fw });
    return fw;
  }

  private async must(name: string): Promise<Readonly<StoredDomain>> {
    const d = await this.load(name);
    if (!d) throw new HypervisorError('no-domain', `Domain not found: no domain with matching name '${name}'`);
    return d;
  }

  /** Define or redefine: the definition is replaced durably, the power state is kept. */
  async define(xml: string): Promise<void> {
    const fw = readDomainFirmware(xml);
    const name = fw.name || domainNameOf(xml);
    const old = await this.load(name);
    if (old) {
      const state = this.stateOf(old);
      await this.docs.write(name, { name, xml });
      // A redefinition of a legacy definition moves its state into the state file.
      if (old.state !== undefined) this.setState(name, state);
    } else {
      // A new domain is shut off; its state file is created alongside (creating a file is
      // the slow part, so not in start), replacing any a crash left behind.
      this.states.set(name, PowerState.SHUTDOWN);
      await Promise.all([this.docs.write(name, { name, xml }), fsp.writeFile(this.stateFile(name), `${PowerState.SHUTDOWN}\n`, { mode: 0o600 })]);
    }
    this.firmware.set(name, { xml, fw });
  }

  async start(name: string, opts: StartOptions = {}): Promise<void> {
    const d = await this.must(name);
    const cur = this.stateOf(d);
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
    this.setState(name, opts.paused ? PowerState.PAUSED : PowerState.RUNNING);
  }

  async shutdown(name: string, _timeoutSec: number): Promise<boolean> {
    await this.must(name);
    this.setState(name, PowerState.SHUTDOWN);
    return true;
  }

  async destroy(name: string): Promise<void> {
    const d = await this.load(name);
    if (!d || this.stateOf(d) === PowerState.SHUTDOWN) return;
    this.setState(name, PowerState.SHUTDOWN);
  }

  async reboot(name: string): Promise<void> {
    const d = await this.must(name);
    if (this.stateOf(d) !== PowerState.RUNNING) throw new HypervisorError('not-running', `Requested operation is not valid: domain '${name}' is not running`);
  }

  async undefine(name: string, opts: UndefineOptions): Promise<void> {
    if (typeof opts?.keepNvram !== 'boolean') throw new HypervisorError('nvram', 'cannot undefine domain with nvram');
    const d = await this.load(name);
    if (!d) return;
    if (!opts.keepNvram) {
      const fw = this.firmwareOf(d);
      if (fw.nvram?.path) await this.nvram.remove(fw.nvram.path);
    }
    await this.docs.remove(name);
    this.dropState(name);
  }

  async getInfo(name: string): Promise<DomainInfo | null> {
    const d = await this.load(name);
    return d ? { name, state: this.stateOf(d) } : null;
  }

  async getXml(name: string): Promise<string | null> {
    return (await this.load(name))?.xml ?? null;
  }

  list(): Promise<string[]> {
    return this.docs.keys();
  }

  /** Source: send the definition and the flash contents, then undefine here keeping the store file. */
  async liveMigrate(name: string, opts: LiveMigrateOptions): Promise<void> {
    const d = await this.must(name);
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
