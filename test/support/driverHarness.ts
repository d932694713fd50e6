/**
 * Hosts for the driver's unit tests: each a `ShimDriver` wired as `server.buildDriver` wires
 * it, but on a `MemoryHypervisor` and a `MemoryPeer`, with its own temp `nvram_dir` and
 * `state_dir` (real `NvramStore`, `RecordStore`, `JournalStore`: the files are what the
 * tests look at). The hosts of one world share a firmware tree, a hypervisor fabric (live
 * migration) and a peer network (the sidecar-to-sidecar calls).
 *
 * The firmware tree has real edk2 sizes (the size rules pair code and vars): OVMF 4M code
 * (3653632 bytes), plain and Secure Boot variable templates of 540672 bytes that are parseable
 * edk2 stores (so variable edits work), and a stateless loader. It is built once per process.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { testConfig, type Config } from '../../src/config';
import { ShimDriver } from '../../src/driver';
import { FirmwareHost } from '../../src/firmware/host';
import { KeysetRegistry, loadKeysets } from '../../src/firmware/keysets';
import { NvramStore } from '../../src/nvram/store';
import { RecordStore } from '../../src/state/records';
import { JournalStore } from '../../src/state/journal';
import { RotationStore } from '../../src/state/rotations';
import { FaultPoints } from '../../src/util/faults';
import { memoryLogger, type Logger } from '../../src/util/log';
import { NovaError } from '../../src/errors';
import { EFI_GLOBAL_VARIABLE } from '../../src/varstore/guids';
import { buildStore } from '../unit/varstore/builder';
import { MemoryHypervisor, type HypervisorFabric } from './memoryHypervisor';
import { MemoryPeer, PeerNetwork } from './memoryPeer';
import { SIZES, makeFile, tmpDir } from './firmwareFixture';
import type { ReplicaStore } from '../../src/replica/types';
import { ReplicaLog } from '../../src/replica/generations';
import { makeKeyring, parseKey, type Keyring } from '../../src/replica/keys';
import { ReplicaService, type ReplicaOptions } from '../../src/replica/scheduler';
import { ReplicaStateStore } from '../../src/state/replicas';
import { TombstoneStore } from '../../src/state/tombstones';
import type { Hypervisor } from '../../src/hypervisor/types';

/** The replica key of driver unit tests (every host holds it unless a test gives one its own). */
export const TEST_REPLICA_KEYS = makeKeyring(parseKey('5a'.repeat(32), 'test key'));

export interface DriverFirmware {
  dir: string;
  files: { code: string; vars: string; secCode: string; secVars: string; stateless: string };
  /** `[firmware:x86_64]` as config sections. */
  map: Record<string, Record<string, string | boolean>>;
}

/** An OVMF 4M varstore (540672 bytes) holding BootOrder = `order`: a template the variable code can parse. */
export function ovmf4mStore(order: number[]): Buffer {
  const data = Buffer.alloc(order.length * 2);
  order.forEach((n, i) => data.writeUInt16LE(n, i * 2));
  const store = buildStore({ fvLength: SIZES.ovmf4mVars, records: [{ name: 'BootOrder', guid: EFI_GLOBAL_VARIABLE, data }] });
  assert.equal(store.length, SIZES.ovmf4mVars);
  return store;
}

export function driverFirmware(dir = tmpDir('nus-drvfw-')): DriverFirmware {
  const f = (n: string) => path.join(dir, n);
  fs.mkdirSync(dir, { recursive: true });
  const files = {
    code: makeFile(f('OVMF_CODE_4M.fd'), SIZES.ovmf4mCode, 0xff, 'CODE'),
    vars: f('OVMF_VARS_4M.fd'),
    secCode: makeFile(f('OVMF_CODE_4M.secboot.fd'), SIZES.ovmf4mCode, 0xff, 'SECCODE'),
    secVars: f('OVMF_VARS_4M.ms.fd'),
    stateless: makeFile(f('OVMF.stateless.fd'), SIZES.ovmf4mCode, 0xff, 'SLCODE'),
  };
  fs.writeFileSync(files.vars, ovmf4mStore([0]));
  fs.writeFileSync(files.secVars, ovmf4mStore([0, 1]));
  return {
    dir,
    files,
    map: {
      'firmware:x86_64': {
        loader: files.code,
        nvram_template: files.vars,
        secure_loader: files.secCode,
        secure_nvram_template: files.secVars,
        secure_requires_smm: true,
        secure_enrolled_keys: true,
        stateless_loader: files.stateless,
      },
    },
  };
}

let shared: DriverFirmware | undefined;
/** One firmware tree for every world that does not change firmware files (removed at exit). */
export function sharedFirmware(): DriverFirmware {
  if (!shared) {
    const fw = driverFirmware();
    shared = fw;
    process.once('exit', () => fs.rmSync(fw.dir, { recursive: true, force: true }));
  }
  return shared;
}

export interface Host<H extends Hypervisor = MemoryHypervisor> {
  name: string;
  driver: ShimDriver;
  hv: H;
  nvram: NvramStore;
  records: RecordStore;
  journals: JournalStore;
  config: Config;
  log: Logger & { lines: Record<string, unknown>[] };
  nvramDir: string;
  /** The replica service, when the world has a replica store. */
  replicas?: ReplicaService;
  /** Every file in the NVRAM directory (stashes and staged copies included), sorted. */
  nvramFiles(): string[];
}

export interface World<H extends Hypervisor = MemoryHypervisor> {
  root: string;
  fw: DriverFirmware;
  hosts: Host<H>[];
  net: PeerNetwork;
  fabric: HypervisorFabric;
  host(name: string): Host<H>;
  cleanup(): void;
}

/** What a hypervisor factory gets for one host; `hvOf` finds another host's (by peer name or alias). */
export interface HypervisorContext<H> {
  name: string;
  config: Config;
  nvram: NvramStore;
  hvOf: (host: string) => H;
}

export interface WorldOptions<H extends Hypervisor = MemoryHypervisor> {
  /** Each host's hypervisor (default: a MemoryHypervisor on the world's fabric). */
  hypervisor?: (c: HypervisorContext<H>) => H;
  hosts?: string[];
  fw?: DriverFirmware;
  /** Extra descriptor directories (searched after an empty one). */
  descriptorDirs?: string[];
  delayMs?: number;
  /** Enrolled template the built-in key set is read from (none by default). */
  keysetTemplate?: string;
  /** Config sections merged over the defaults (every host). */
  config?: Partial<Record<string, Record<string, unknown>>>;
  /** A replica store shared by every host (replicas off without one). */
  replicaStore?: ReplicaStore;
  /** Keys per host name (default TEST_REPLICA_KEYS), retention and timing. */
  replicaKeys?: Record<string, Keyring>;
  replicaKeep?: number;
  replicaOptions?: Partial<ReplicaOptions>;
}

export async function makeWorld<H extends Hypervisor = MemoryHypervisor>(opts: WorldOptions<H> = {}): Promise<World<H>> {
  const root = tmpDir('nus-drv-');
  const fw = opts.fw ?? sharedFirmware();
  const net = new PeerNetwork();
  const fabric: HypervisorFabric = new Map();
  const empty = path.join(root, 'descriptors');
  fs.mkdirSync(empty);
  const hosts: Host<H>[] = [];
  const hvOf = (host: string) => (hosts.find((h) => h.name === net.resolve(host)) ?? assert.fail(`no host ${host}`)).hv;
  for (const name of opts.hosts ?? ['compute1']) {
    const base = path.join(root, name);
    const sections: Partial<Record<string, Record<string, unknown>>> = {
      DEFAULT: { host: name },
      api: { host: '127.0.0.1', port: 0 },
      hypervisor: { backend: 'embedded', state_dir: path.join(base, 'state') },
      nvram: { nvram_dir: path.join(base, 'nvram') },
      libvirt: { hw_machine_type: { x86_64: 'q35' } },
      firmware: { descriptor_dirs: [empty, ...(opts.descriptorDirs ?? [])] },
      ...fw.map,
    };
    for (const [k, v] of Object.entries(opts.config ?? {})) sections[k] = { ...(sections[k] ?? {}), ...v };
    const config = testConfig(sections);
    const log = memoryLogger();
    const nvram = new NvramStore({ dir: config.nvram.nvram_dir, mode: 0o600 });
    await nvram.init();
    const records = new RecordStore(config.hypervisor.state_dir);
    await records.init();
    const journals = new JournalStore(config.hypervisor.state_dir);
    await journals.init();
    const rotations = new RotationStore(config.hypervisor.state_dir);
    await rotations.init();
    const hv = opts.hypervisor
      ? opts.hypervisor({ name, config, nvram, hvOf })
      : (new MemoryHypervisor({ nvram, fabric, host: name, delayMs: opts.delayMs }) as unknown as H);
    await hv.init();
    const firmware = new FirmwareHost(config, log, 'x86_64');
    const keysets = new KeysetRegistry();
    const problems = keysets.replace(loadKeysets(config.secureBootKeysets, { now: new Date(), template: opts.keysetTemplate }));
    assert.deepEqual(problems, []);
    let replicas: ReplicaService | undefined;
    if (opts.replicaStore) {
      const rlog = new ReplicaLog(opts.replicaStore, opts.replicaKeys?.[name] ?? TEST_REPLICA_KEYS, {
        prefix: 'nvram/',
        host: name,
        keep: opts.replicaKeep ?? 5,
        backoffMs: () => 0,
      });
      replicas = new ReplicaService({
        log: rlog,
        states: new ReplicaStateStore(config.hypervisor.state_dir),
        tombstones: new TombstoneStore(config.hypervisor.state_dir),
        nvram,
        records,
        logger: log,
        options: { interval: 300, concurrency: 4, retryInterval: 1, ...opts.replicaOptions },
      });
      await replicas.init();
    }
    const driver = new ShimDriver(
      { config, hypervisor: hv, nvram, records, firmware, keysets, rotations, log, faults: new FaultPoints([], log), replicas },
      { journals, peer: new MemoryPeer(net, name), selfUrl: `memory://${name}` },
    );
    net.register(name, driver);
    const nvramDir = config.nvram.nvram_dir;
    hosts.push({ name, driver, hv, nvram, records, journals, config, log, nvramDir, replicas, nvramFiles: () => fs.readdirSync(nvramDir).sort() });
  }
  return {
    root,
    fw,
    hosts,
    net,
    fabric,
    host: (name) => hosts.find((h) => h.name === name) ?? assert.fail(`no host ${name}`),
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

// ---- Nova's objects as the API hands them to the driver ----

export const UEFI = { properties: { hw_firmware_type: 'uefi' as const, hw_machine_type: 'q35' } };
export const BIOS = { properties: { hw_firmware_type: 'bios' as const } };
export const SECURE = { properties: { hw_firmware_type: 'uefi' as const, hw_machine_type: 'q35', os_secure_boot: 'required' as const } };
export const STATELESS = { properties: { hw_firmware_type: 'uefi' as const, hw_machine_type: 'q35', hw_firmware_stateless: true } };

let nextId = 0x2a0;
export function newInstance(host = 'compute1') {
  return { uuid: randomUUID(), id: nextId++, host, vcpus: 1, memory_mb: 256, flavor: { name: 'small', vcpus: 1, memory_mb: 256, extra_specs: {} } };
}
export type Inst = ReturnType<typeof newInstance>;

/** The domain name of `[DEFAULT] instance_name_template`'s default, `instance-%08x`. */
export function domainName(inst: Inst): string {
  return `instance-${inst.id.toString(16).padStart(8, '0')}`;
}

/** Where `h` keeps `inst`'s variable store. */
export function storeOn(h: Host<Hypervisor>, inst: Inst): string {
  return h.nvram.pathFor(domainName(inst));
}

export function migration(src: string, dst: string, type = 'resize') {
  return { uuid: randomUUID(), source_compute: src, dest_compute: dst, migration_type: type, status: 'migrating' };
}

// ---- assertions and small tools ----

/** `assert.rejects` predicate: a NovaError of `type`, with `field` in its details and `fragment` in its message when given. */
export function nova(type: string, want: { code?: number; field?: string; fragment?: string | RegExp } = {}): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof NovaError, `expected NovaError ${type}, got ${String(e)}`);
    assert.equal(e.type, type, `expected ${type}, got ${e.type}: ${e.message}`);
    if (want.code !== undefined) assert.equal(e.code, want.code, e.message);
    if (want.field !== undefined) assert.equal(e.details?.field, want.field, e.message);
    const f = want.fragment;
    if (f !== undefined) assert.ok(typeof f === 'string' ? e.message.includes(f) : f.test(e.message), `${e.message} lacks ${String(f)}`);
    return true;
  };
}

export function fileBytes(p: string): Buffer | null {
  return fs.existsSync(p) ? fs.readFileSync(p) : null;
}

/** Write `marker` into a store file directly, as a guest writing a variable would (size unchanged). */
export function markStore(p: string, marker: string, offset = 0x1800): Buffer {
  const b = fs.readFileSync(p);
  b.write(marker, offset);
  fs.writeFileSync(p, b);
  return b;
}

/**
 * Run `fn` with every timer of 50 ms or more firing after 1 ms: the driver's digest polling
 * (20 × 250 ms before it gives up) then takes milliseconds. Mocha keeps its own timer
 * references, so its timeouts are unaffected.
 */
export async function withFastTimers<T>(fn: () => Promise<T>): Promise<T> {
  const real = globalThis.setTimeout;
  const fast = ((cb: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) =>
    real(cb, ms !== undefined && ms >= 50 ? 1 : ms, ...args)) as typeof setTimeout;
  globalThis.setTimeout = fast;
  try {
    return await fn();
  } finally {
    globalThis.setTimeout = real;
  }
}
