/**
 * @module server
 * Wire a configuration into a running sidecar: check directories, build the NVRAM store,
 * records, firmware host, hypervisor backend, driver and HTTP app, listen, then recover open
 * migration journals. The running sidecar reloads its configuration (`reload`, SIGHUP) and
 * stops gracefully (`shutdown`, SIGTERM). Used by `main.ts` and by tests that run the sidecar
 * in-process.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Config } from './config';
import { createApp } from './api/app';
import { ShimDriver, type RecoveryOutcome } from './driver';
import { FirmwareHost } from './firmware/host';
import { KeysetRegistry, enrolledTemplate, loadKeysets } from './firmware/keysets';
import { FaultPoints } from './util/faults';
import { mkdirDurable } from './util/atomicFile';
import { StorageError } from './errors';
import { incomingStreamRouter, ARRIVE_PATH } from './api/incomingStream';
import { EmbeddedHypervisor } from './hypervisor/embedded';
import { LibvirtHypervisor } from './hypervisor/libvirt';
import { NovaOwnedHypervisor } from './hypervisor/novaOwned';
import { virshRunner } from './hypervisor/virsh';
import type { Hypervisor } from './hypervisor/types';
import { NvramStore, resolveId } from './nvram/store';
import { RecordStore, type SecureBootRecordSummary } from './state/records';
import { createLogger, type Logger } from './util/log';
import { JournalStore } from './state/journal';
import { RotationStore } from './state/rotations';
import { PeerClient, peerHttpsAgent } from './peer/client';
import { SignatureVerifier } from './peer/signing';
import { peerRouter } from './api/peerRoutes';
import { Metrics, type SecureBootPendingSummary } from './metrics';
import { readinessChecks } from './service/readiness';
import { reloadConfig, type ReloadResult, type ReloadTarget } from './service/reload';
import { openReplicas } from './replica';
import { ReplicaService } from './driver/replicas';
import { ReplicaStateStore } from './state/replicas';
import { TombstoneStore } from './state/tombstones';

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

/** mkdir -p with `mode` (new directories fsynced in their parent), then prove we can write there; fail with the option to set. */
async function ensureWritableDir(dir: string, option: string, mode: number): Promise<void> {
  try {
    await mkdirDurable(dir, mode);
    await fsp.access(dir, fsc.W_OK | fsc.X_OK);
  } catch (e) {
    const code = e instanceof StorageError ? e.errno : (e as NodeJS.ErrnoException).code;
    throw new StartupError(`cannot write to ${dir} (${code ?? (e as Error).message}): set ${option} to a writable directory`);
  }
}

export interface Sidecar {
  /** The configuration in force (a reload replaces it). */
  readonly config: Config;
  driver: ShimDriver;
  hypervisor: Hypervisor;
  log: Logger;
  /** Present unless `[api] metrics_enabled = false`. */
  metrics?: Metrics;
  server: Server | HttpsServer;
  port: number;
  url: string;
  /** Settles when start-up recovery of open migration journals has finished. */
  recovered: Promise<void>;
  /** Re-read `file` and put it in force, or refuse it (SIGHUP). */
  reload(file: string): Promise<ReloadResult>;
  /**
   * Graceful stop (SIGTERM): stop accepting, answer 503 to requests on kept-alive
   * connections, wait up to `timeoutSec` for the requests and flows in flight; resolves true
   * when everything finished, false when the bound cut something.
   */
  shutdown(timeoutSec: number): Promise<boolean>;
  /** Stop at once (tests). */
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

/** Read and check the key sets of `config` (and the built-in one from this host's enrolled template). */
function loadKeysetsFor(config: Config, firmware: FirmwareHost, log: Logger) {
  const load = loadKeysets(config.secureBootKeysets, { now: new Date(), template: enrolledTemplate(firmware.inventory(), firmware.arch) });
  for (const note of load.notes) log.info(note);
  return load;
}

export interface BuiltDriver {
  driver: ShimDriver;
  hypervisor: Hypervisor;
  log: Logger;
  firmware: FirmwareHost;
  journals: JournalStore;
  peer: PeerClient;
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
  let peer: PeerClient;
  try {
    peer = new PeerClient(config, undefined, metrics);
  } catch (e) {
    throw new StartupError((e as Error).message);
  }
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
  const firmware = new FirmwareHost(config, log, opts.hostArch ?? (config.debug.host_arch || undefined));
  firmware.logProblems();
  const keysets = new KeysetRegistry();
  const problems = keysets.replace(loadKeysetsFor(config, firmware, log));
  if (problems.length) throw new StartupError(`invalid Secure Boot key sets:\n  - ${problems.join('\n  - ')}`);
  const journals = new JournalStore(config.hypervisor.state_dir, metrics);
  await journals.init();
  const rotations = new RotationStore(config.hypervisor.state_dir);
  await rotations.init();
  metrics?.setSources({
    journals: () => journals.summaries(),
    firmwareProblems: () => firmware.inventory().problems,
    secureBootPending: async () => secureBootPending(await records.secureBootSummaries()),
  });
  const replicas = await startReplicas(config, { nvram, records, log, metrics });
  const driver = new ShimDriver(
    { config, hypervisor, nvram, records, firmware, keysets, rotations, log, faults, metrics, replicas },
    { journals, peer, selfUrl: opts.selfUrl },
  );
  return { driver, hypervisor, log, firmware, journals, peer };
}

/**
 * The replica service for `[replica]`, or undefined for `backend = none`. Key files are read
 * now (a missing or malformed key stops start-up); an unreachable store does not: local work
 * goes on and generations are retried until it answers.
 */
async function startReplicas(
  config: Config,
  d: { nvram: NvramStore; records: RecordStore; log: Logger; metrics?: Metrics },
): Promise<ReplicaService | undefined> {
  let replicaLog;
  try {
    replicaLog = openReplicas(config);
  } catch (e) {
    throw new StartupError((e as Error).message);
  }
  if (!replicaLog) return undefined;
  const r = config.replica;
  const states = new ReplicaStateStore(config.hypervisor.state_dir);
  const svc = new ReplicaService({
    log: replicaLog,
    states,
    tombstones: new TombstoneStore(config.hypervisor.state_dir),
    nvram: d.nvram,
    records: d.records,
    logger: d.log,
    options: { interval: r.interval, concurrency: r.concurrency, retryInterval: r.retry_interval },
    metrics: d.metrics?.enableReplicas(),
  });
  d.metrics?.setSources({ replicas: () => svc.summary() });
  await svc.init();
  await svc.ensureStore().catch((e: Error) => d.log.warning('nvram replica store unavailable at start-up; generations will be retried', { error: e.message }));
  d.log.info('nvram replicas', { backend: replicaLog.store.describe(), keep: r.keep, interval_s: r.interval });
  return svc;
}

/** The queued Secure Boot changes of this host's instances, summed (the metrics' gauges). */
function secureBootPending(recs: readonly SecureBootRecordSummary[]): SecureBootPendingSummary {
  let instances = 0;
  let changes = 0;
  let oldest: number | null = null;
  for (const r of recs) {
    if (!r.pending) continue;
    instances++;
    changes += r.pending;
    const t = r.pendingSince ? Date.parse(r.pendingSince) : NaN;
    if (Number.isFinite(t) && (oldest === null || t < oldest)) oldest = t;
  }
  return { instances, changes, oldestQueuedAt: oldest };
}

export async function startSidecar(initial: Config, opts: StartOptions = {}): Promise<Sidecar> {
  let config = initial;
  const metrics = opts.metrics ?? (config.api.metrics_enabled ? new Metrics() : undefined);
  const { driver, hypervisor, log, firmware, peer } = await buildDriver(config, { ...opts, metrics });
  const verifier = new SignatureVerifier(config.peer.shared_secret, config.peer.max_clock_skew);
  let lastReloadError: string | null = null;
  let recovery: string | null = null;
  let stopping = false;
  const app = createApp({
    driver,
    log,
    settings: () => config.api,
    host: config.DEFAULT.host,
    backend: hypervisor.kind,
    metrics,
    stopping: () => stopping,
    readiness: () =>
      readinessChecks({
        config: () => config,
        lastReloadError: () => lastReloadError,
        firmware,
        hypervisor,
        recovery: () => recovery,
        stopping: () => stopping,
        replica: driver.core.replicas ? () => driver.core.replicas!.probe(config.replica.timeout) : undefined,
      }),
    extraRouters: [
      peerRouter({ verifier, host: config.DEFAULT.host, metrics }),
      ...(hypervisor.acceptIncoming ? [incomingStreamRouter({ acceptIncoming: (g) => hypervisor.acceptIncoming!(g) })] : []),
    ],
  });
  const tls = config.api.tls_cert_file ? loadTls(config) : undefined;
  const server: Server | HttpsServer = tls ? createHttpsServer(tls, app) : createHttpServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new StartupError(`cannot listen on ${config.api.host}:${config.api.port}: ${e.message}; set [api] port`)));
    server.listen(config.api.port, config.api.host, () => resolve());
  });
  const inFlight = new InFlight(server);
  const port = (server.address() as AddressInfo).port;
  const replicas = driver.core.replicas;
  replicas?.start();
  const hostPart = config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host;
  const scheme = tls ? 'https' : 'http';
  log.info('listening', { address: config.api.host, port, scheme, backend: hypervisor.kind, config: config.source });

  // Start-up recovery runs while the API already answers (liveness), under each instance's
  // lock (a Nova call for the instance waits for it); /readyz says 503 until it is done.
  const recovered = driver.recoverJournals().then(
    (outcomes) => {
      recovery = describeRecovery(outcomes);
    },
    (e: unknown) => {
      log.error('start-up recovery failed; open journals wait for Nova', { error: (e as Error).message });
      recovery = `failed (${(e as Error).message}); open journals complete on Nova's next call`;
    },
  );

  let renewed: SecureContextOptions | undefined;
  let keysetLoad: ReturnType<typeof loadKeysetsFor> | undefined;
  let peerAgent: ReturnType<typeof peerHttpsAgent>;
  const reloadTarget: ReloadTarget = {
    log,
    metrics,
    current: () => config,
    firmwareNow: () => firmware.inventory(),
    firmwareFor: (next) => firmware.discoverFor(next),
    // TLS material is read before anything changes: a renewed certificate at the running
    // path (the API's paths are restart-only) and the peers' CA, both must load.
    check: (next) => {
      const problems: string[] = [];
      try {
        if (tls) renewed = loadTls(next);
      } catch (e) {
        problems.push((e as Error).message);
      }
      try {
        peerAgent = peerHttpsAgent(next);
      } catch (e) {
        problems.push((e as Error).message);
      }
      // Secure Boot key sets: every file must check out, or the reload is refused as a whole.
      keysetLoad = loadKeysetsFor(next, firmware, log);
      problems.push(...keysetLoad.problems);
      return Promise.resolve(problems);
    },
    apply: (next, inv) => {
      config = next;
      driver.core.reconfigure(next);
      firmware.reconfigure(next, inv);
      peer.reconfigure(next, peerAgent);
      if (renewed) (server as HttpsServer).setSecureContext(renewed);
      verifier.reconfigure(next.peer.shared_secret, next.peer.max_clock_skew);
      if (keysetLoad) driver.core.deps.keysets.replace(keysetLoad);
      log.setLevel(next.DEFAULT.debug ? 'debug' : 'info');
    },
  };
  let reloading: Promise<unknown> = Promise.resolve();

  return {
    get config() {
      return config;
    },
    driver,
    hypervisor,
    log,
    metrics,
    server,
    port,
    url: `${scheme}://${hostPart}:${port}`,
    recovered,
    reload: (file: string) => {
      // One reload at a time (two SIGHUPs in a row apply in order).
      const run = reloading.then(() => reloadConfig(file, reloadTarget));
      reloading = run.catch(() => undefined);
      return run.then((r) => {
        lastReloadError = r.ok ? null : r.problems.join('; ');
        return r;
      });
    },
    shutdown: async (timeoutSec: number) => {
      stopping = true;
      server.close();
      server.closeIdleConnections();
      const busy = () => driver.core.locks.busyKeys();
      const drained = await settleWithin(Promise.all([inFlight.idle(), driver.core.locks.idle(), recovered]), timeoutSec * 1000);
      const cut = drained ? [] : busy();
      if (cut.length || !drained) {
        log.error('shutdown timeout reached: stopping with calls in flight; their journals are completed at the next start', {
          shutdown_timeout: timeoutSec,
          requests_in_flight: inFlight.count,
          instances: cut,
        });
      }
      server.closeAllConnections();
      await hypervisor.close?.();
      log.info('stopped', { drained });
      return drained;
    },
    close: async () => {
      stopping = true;
      await recovered;
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections?.();
      await replicas?.stop();
      await hypervisor.close?.();
    },
  };
}

/**
 * The API's certificate and key (`[api] tls_cert_file`, `tls_key_file`), checked as a pair by
 * building a TLS context from them; a StartupError naming the option otherwise.
 */
function loadTls(config: Config): SecureContextOptions {
  const read = (file: string, option: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new StartupError(`cannot read ${option} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const opts = { cert: read(config.api.tls_cert_file, '[api] tls_cert_file'), key: read(config.api.tls_key_file, '[api] tls_key_file') };
  try {
    createSecureContext(opts);
  } catch (e) {
    throw new StartupError(`[api] tls_cert_file / tls_key_file: ${(e as Error).message} (${config.api.tls_cert_file}, ${config.api.tls_key_file})`);
  }
  return opts;
}

/** Requests the server is answering (an `http.Server` 'request' until its response closes). */
class InFlight {
  count = 0;
  private waiters: (() => void)[] = [];
  constructor(server: Server) {
    server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      this.count++;
      res.once('close', () => {
        this.count--;
        if (this.count === 0) for (const w of this.waiters.splice(0)) w();
      });
    });
  }
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
}

/** True when `p` settled within `ms`. */
async function settleWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The recovery check's detail: what was done, what waits for Nova. */
function describeRecovery(outcomes: readonly RecoveryOutcome[]): string {
  if (!outcomes.length) return 'done: no open migration journals';
  const by = (a: RecoveryOutcome['action']) => outcomes.filter((o) => o.action === a);
  const parts = (['reverted', 'confirmed', 'closed'] as const).map((a) => [a, by(a).length] as const).filter(([, n]) => n);
  const left = [...by('left'), ...by('failed')];
  return (
    `done: ${parts.map(([a, n]) => `${n} ${a}`).join(', ') || 'nothing completed'}` +
    (left.length
      ? `; waiting for Nova: ${left.map((o) => `${o.instance_uuid} (${o.kind} ${o.role} ${o.status}${o.action === 'failed' ? `, failed: ${o.detail}` : ''})`).join(', ')}`
      : '')
  );
}
