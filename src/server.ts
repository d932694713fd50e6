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
import { incomingStreamRouter, ARRIVE_PATH } from './api/incomingStream';
import { EmbeddedHypervisor } from './hypervisor/embedded';
import { LibvirtHypervisor } from './hypervisor/libvirt';
import { NovaOwnedHypervisor } from './hypervisor/novaOwned';
import { virshRunner } from './hypervisor/virsh';
import type { Hypervisor } from './hypervisor/types';
import { NvramStore, resolveId } from './nvram/store';
import { RecordStore } from './state/records';
import { createLogger, type Logger } from './util/log';
import { JournalStore } from './state/journal';
import { PeerClient } from './peer/client';
import { SignatureVerifier } from './peer/signing';
import { peerRouter } from './api/peerRoutes';

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
}

export async function buildDriver(config: Config, opts: StartOptions = {}): Promise<{ driver: ShimDriver; hypervisor: Hypervisor; log: Logger }> {
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
  });
  await nvram.init();
  const records = new RecordStore(config.hypervisor.state_dir);
  await records.init();
  const faults = new FaultPoints(config.debug.crash_points, log);
  const peer = new PeerClient(config);
  // Backends that keep domains as records hand a live-migrated guest to the destination
  // sidecar through the signed peer link (the embedded backend's stand-in for QEMU's stream).
  const stream = { send: async (destHost: string, guest: unknown) => void (await peer.call(destHost, 'POST', ARRIVE_PATH, guest)) };
  let hypervisor: Hypervisor;
  if (opts.hypervisor) hypervisor = opts.hypervisor;
  else if (config.hypervisor.backend === 'libvirt')
    hypervisor = new LibvirtHypervisor({ uri: config.libvirt.connection_uri, virshPath: config.libvirt.virsh_path });
  else if (config.hypervisor.backend === 'nova') {
    const probe = config.hypervisor.nova_power_state === 'libvirt' ? virshRunner(config.libvirt.connection_uri, config.libvirt.virsh_path) : undefined;
    hypervisor = new NovaOwnedHypervisor({ stateDir: config.hypervisor.state_dir, nvram, stream, probe });
  } else hypervisor = new EmbeddedHypervisor(config.hypervisor.state_dir, nvram, stream, faults);
  await hypervisor.init();
  const firmware = new FirmwareHost(config, log, opts.hostArch);
  firmware.logProblems();
  const journals = new JournalStore(config.hypervisor.state_dir);
  await journals.init();
  const driver = new ShimDriver({ config, hypervisor, nvram, records, firmware, log, faults }, { journals, peer, selfUrl: opts.selfUrl });
  return { driver, hypervisor, log };
}

export async function startSidecar(config: Config, opts: StartOptions = {}): Promise<Sidecar> {
  const { driver, hypervisor, log } = await buildDriver(config, opts);
  const verifier = new SignatureVerifier(config.peer.shared_secret, config.peer.max_clock_skew);
  const app = createApp({
    driver,
    log,
    authToken: config.api.auth_token,
    host: config.DEFAULT.host,
    backend: hypervisor.kind,
    extraRouters: [
      peerRouter(verifier),
      ...(hypervisor.acceptIncoming ? [incomingStreamRouter({ acceptIncoming: (g) => hypervisor.acceptIncoming!(g) })] : []),
    ],
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
