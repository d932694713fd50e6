/**
 * @module hypervisor/domainBook
 * The bookkeeping of the two backends that keep domains as records instead of asking libvirt
 * (embedded, nova-owned). Like libvirt, two things per domain:
 * - the persistent definition (`<state_dir>/domains/<name>.json`: name and XML), written
 *   durably, as libvirt writes `/etc/libvirt/qemu/<name>.xml`;
 * - the runtime power state (`<state_dir>/run/domains/<name>.state`), like libvirt's status
 *   file under `/run`: kept in memory and in that file, not fsynced, so it survives a
 *   sidecar restart, while after a power loss a domain whose state did not reach the disk is
 *   shut off, which is what a power loss does to a VM. An unreadable state is shut off too.
 *   Definitions written before this split carry a `state` field, read when no state file exists.
 *
 * Deliberately not here: what a backend checks or does at start, undefine or migration.
 */
import { promises as fsp, closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { JsonDir } from '../util/jsonDir';
import { HypervisorError, storageError } from '../errors';
import { mkdirDurable } from '../util/atomicFile';
import { PowerState, type PowerStateCode } from '../nova/powerState';

export interface StoredDomain {
  name: string;
  xml: string;
  /** Only in definitions written before the runtime state had its own file. */
  state?: PowerStateCode;
}

const STATES = new Set<number>(Object.values(PowerState));

export class DomainBook {
  private readonly docs: JsonDir<StoredDomain>;
  private readonly runDir: string;
  /** name → power state, as in the state file (loaded on first use). */
  private readonly states = new Map<string, PowerStateCode>();

  constructor(stateDir: string) {
    this.docs = new JsonDir(path.join(path.resolve(stateDir), 'domains'));
    this.runDir = path.join(path.resolve(stateDir), 'run', 'domains');
  }

  async init(): Promise<void> {
    await this.docs.init();
    await mkdirDurable(this.runDir, 0o700);
  }

  /** Definitions are only read here, never changed in place: the shared frozen copy. */
  load(name: string): Promise<Readonly<StoredDomain> | null> {
    return this.docs.peek(name);
  }

  async must(name: string): Promise<Readonly<StoredDomain>> {
    const d = await this.load(name);
    if (!d) throw new HypervisorError('no-domain', `Domain not found: no domain with matching name '${name}'`);
    return d;
  }

  /** Rejects when the definitions' directory is gone or unreadable. */
  access(): Promise<void> {
    return fsp.access(this.docs.dir);
  }

  keys(): Promise<string[]> {
    return this.docs.keys();
  }

  private stateFile(name: string): string {
    return path.join(this.runDir, `${name}.state`);
  }

  /** The runtime state of a defined domain (its definition `d`). */
  stateOf(d: Readonly<StoredDomain>): PowerStateCode {
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
  setState(name: string, st: PowerStateCode): void {
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
      throw storageError(file, 'write', e);
    }
  }

  /**
   * Define or redefine durably. A redefinition keeps the power state (and moves a legacy
   * definition's state into the state file); a new domain is shut off, its state file created
   * alongside (creating a file is the slow part, so not at start), replacing any a crash left.
   */
  async write(name: string, xml: string): Promise<void> {
    const old = await this.load(name);
    if (old) {
      const state = this.stateOf(old);
      await this.docs.write(name, { name, xml });
      if (old.state !== undefined) this.setState(name, state);
      return;
    }
    this.states.set(name, PowerState.SHUTDOWN);
    const stateFile = this.stateFile(name);
    const [doc, state] = await Promise.allSettled([
      this.docs.write(name, { name, xml }),
      fsp.writeFile(stateFile, `${PowerState.SHUTDOWN}\n`, { mode: 0o600 }).catch(async (e: unknown) => {
        await fsp.unlink(stateFile).catch(() => undefined);
        throw storageError(stateFile, 'write', e);
      }),
    ]);
    if (doc.status === 'rejected' || state.status === 'rejected') {
      // All or nothing: a half-made domain (a definition without its state file, as on a full
      // disk) would make the retry of a failed spawn answer InstanceExists.
      this.states.delete(name);
      if (doc.status === 'fulfilled') await this.docs.remove(name).catch(() => undefined);
      if (state.status === 'fulfilled') await fsp.unlink(stateFile).catch(() => undefined);
      throw doc.status === 'rejected' ? doc.reason : (state as PromiseRejectedResult).reason;
    }
  }

  /** The guest stopped (shutdown within its timeout): recorded shut off. */
  async shutDown(name: string): Promise<void> {
    await this.must(name);
    this.setState(name, PowerState.SHUTDOWN);
  }

  /** The guest was pulled (destroy): shut off if defined and not already; nothing otherwise. */
  async pullPlug(name: string): Promise<void> {
    const d = await this.load(name);
    if (d && this.stateOf(d) !== PowerState.SHUTDOWN) this.setState(name, PowerState.SHUTDOWN);
  }

  /**
   * libvirt's undefine for a recorded domain: without `keepNvram` the store `storeOf` names goes
   * first (through `remove`, the NVRAM store's own delete), then the definition. An unknown
   * domain is a no-op. `keepNvram` must be decided by the caller (it checks it, with its own
   * message).
   */
  async undefine(
    name: string,
    keepNvram: boolean,
    storeOf: (d: Readonly<StoredDomain>) => string | undefined,
    remove: (path: string) => Promise<unknown>,
  ): Promise<void> {
    const d = await this.load(name);
    if (!d) return;
    const store = keepNvram ? undefined : storeOf(d);
    if (store) await remove(store);
    await this.remove(name);
  }

  /** Forget a definition and its runtime state. */
  async remove(name: string): Promise<void> {
    await this.docs.remove(name);
    this.states.delete(name);
    try {
      unlinkSync(this.stateFile(name));
    } catch {
      // already gone
    }
  }
}
