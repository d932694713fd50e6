/**
 * @module server
 * Wire a configuration into a running sidecar: check directories, build the NVRAM store,
 * records, firmware host, hypervisor backend, driver and HTTP app, and listen. Used by
 * `main.ts` and by tests that run the sidecar in-process.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Config } from './config';
import { createApp } from './api/app';
import { ShimDriver } from './driver';
import { FirmwareHost } from './firmware/host';
import { FaultPoints } from './util/faults';
import { embeddedStreamRouter, EMBEDDED_ARRIVE_PATH } from './api/embeddedStream';
import { EmbeddedHypervisor } from './hypervisor/embedded';
import { LibvirtHypervisor } from './hypervisor/libvirt';
import type { Hypervisor } from './hypervisor/types';
import { NvramStore, resolveId } from './nvram/store';
import { RecordStore } from './state/records';
import { createLogger, type Logger } from './util/log';
import { JournalStore } from './state/journal';
import { PeerClient } from './peer/client';
import { SignatureVerifier } from './peer/signing';
import { peerRouter } from './api/peerRoutes';
import { Metrics } from './metrics';
import { readinessChecks } from './service/readiness';

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

/** mkdir -p with `mode`, then prove we can write there; fail with the option to set. */
async function ensureWritableDir(dir: string, option: string, mode: number): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true, mode });
    await fsp.access(dir, fsc.W_OK | fsc.X_OK);
  } catch (e) {
    throw new StartupError(`cannot write to ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): set ${option} to a writable directory`);
  }
}

export interface Sidecar {
  config: Config;
  driver: ShimDriver;
  hypervisor: Hypervisor;
  log: Logger;
  /** Present unless `[api] metrics_enabled = false`. */
  metrics?: Metrics;
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Override the host architecture (tests). */
  hostArch?: string;
  hypervisor?: Hypervisor;
  /** This sidecar's own base URL if known before listening. */
  selfUrl?: string;
  /** Where to record metrics (default: a new registry unless `[api] metrics_enabled = false`). */
  metrics?: Metrics;
}

export interface BuiltDriver {
  driver: ShimDriver;
  hypervisor: Hypervisor;
  log: Logger;
  firmware: FirmwareHost;
  journals: JournalStore;
  embedded?: EmbeddedHypervisor;
}

export async function buildDriver(config: Config, opts: StartOptions = {}): Promise<BuiltDriver> {
  const metrics = opts.metrics;
  const log = opts.log ?? createLogger({ level: config.DEFAULT.debug ? 'debug' : 'info', host: config.DEFAULT.host });
  if (!isLoopback(config.api.host) && !config.api.auth_token) {
    throw new StartupError(`refusing to listen on ${config.api.host} without authentication: set [api] auth_token (or bind [api] host to 127.0.0.1)`);
  }
  await ensureWritableDir(config.nvram.nvram_dir, '[nvram] nvram_dir', 0o755);
  await ensureWritableDir(config.hypervisor.state_dir, '[hypervisor] state_dir', 0o700);
  const nvram = new NvramStore({
    dir: config.nvram.nvram_dir,
    mode: config.nvram.mode,
    uid: await resolveId('user', config.nvram.owner),
    gid: await resolveId('group', config.nvram.group),
    metrics,
  });
  await nvram.init();
  const records = new RecordStore(config.hypervisor.state_dir);
  await records.init();
  const faults = new FaultPoints(config.debug.crash_points, log);
  const peer = new PeerClient(config, undefined, metrics);
  let embedded: EmbeddedHypervisor | undefined;
  let hypervisor: Hypervisor;
  if (opts.hypervisor) hypervisor = opts.hypervisor;
  else if (config.hypervisor.backend === 'libvirt')
    hypervisor = new LibvirtHypervisor({ uri: config.libvirt.connection_uri, virshPath: config.libvirt.virsh_path });
  else {
    // The embedded backend's stand-in for QEMU's migration stream goes through the signed peer link.
    const stream = { send: async (destHost: string, guest: unknown) => void (await peer.call(destHost, 'POST', EMBEDDED_ARRIVE_PATH, guest)) };
    hypervisor = embedded = new EmbeddedHypervisor(config.hypervisor.state_dir, nvram, stream, faults);
  }
  await hypervisor.init();
  const firmware = new FirmwareHost(config, log, opts.hostArch);
  firmware.logProblems();
  const journals = new JournalStore(config.hypervisor.state_dir, metrics);
  await journals.init();
  metrics?.setSources({ journals: () => journals.summaries(), firmwareProblems: () => firmware.inventory().problems });
  const driver = new ShimDriver({ config, hypervisor, nvram, records, firmware, log, faults, metrics }, { journals, peer, selfUrl: opts.selfUrl });
  return { driver, hypervisor, log, firmware, journals, embedded };
}

export async function startSidecar(config: Config, opts: StartOptions = {}): Promise<Sidecar> {
  const metrics = opts.metrics ?? (config.api.metrics_enabled ? new Metrics() : undefined);
  const { driver, hypervisor, log, firmware, journals, embedded } = await buildDriver(config, { ...opts, metrics });
  const verifier = new SignatureVerifier(config.peer.shared_secret, config.peer.max_clock_skew);
  // TODO(issue-17): start-up recovery of open journals; until then they wait for Nova's next call.
  const open = (await journals.summaries()).length;
  const recovery = `nothing is recovered at start: ${open} open migration journal(s) complete on Nova's next call for their instance`;
  const app = createApp({
    driver,
    log,
    settings: () => config.api,
    host: config.DEFAULT.host,
    backend: hypervisor.kind,
    metrics,
    readiness: () => readinessChecks({ config: () => config, firmware, hypervisor, recovery: () => recovery, stopping: () => false }),
    extraRouters: [peerRouter(verifier, metrics), ...(embedded ? [embeddedStreamRouter(embedded)] : [])],
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.api.port, config.api.host, () => resolve(s));
    s.once('error', (e) => reject(new StartupError(`cannot listen on ${config.api.host}:${config.api.port}: ${e.message}; set [api] port`)));
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host;
  log.info('listening', { address: config.api.host, port, backend: hypervisor.kind, config: config.source });
  return {
    config,
    driver,
    hypervisor,
    log,
    metrics,
    server,
    port,
    url: `http://${hostPart}:${port}`,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections?.();
      await hypervisor.close?.();
    },
  };
}
