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
import { keyFileProblems, type Config } from './config';
import type { FirmwareInventory } from './firmware/types';
import { createApp } from './api/app';
import { ShimDriver, type RecoveryOutcome } from './driver';
import { FirmwareHost } from './firmware/host';
import { KeysetRegistry, enrolledTemplate, loadKeysets } from './firmware/keysets';
import { FaultPoints } from './util/faults';
import { mkdirDurable } from './util/atomicFile';
import { StorageError } from './errors';
import { incomingStreamRouter } from './api/incomingStream';
import { peerApi } from './peer/protocol';
import { hypervisorFor } from './hypervisor/factory';
import type { Hypervisor, IncomingGuest } from './hypervisor/types';
import { NvramStore, resolveId } from './nvram/store';
import { RecordStore, type SecureBootRecordSummary } from './state/records';
import { createLogger, type Logger } from './util/log';
import { JournalStore } from './state/journal';
import { RotationStore } from './state/rotations';
import { PeerClient, peerHttpsAgent } from './peer/client';
import { SignatureVerifier } from './peer/signing';
import { peerRouter } from './api/peerRoutes';
import { ownPeerNames } from './peer/hosts';
import { Metrics, type SecureBootPendingSummary } from './metrics';
import { readinessChecks } from './service/readiness';
import { reloadConfig, type Prepared, type ReloadResult, type ReloadTarget } from './service/reload';
import { openReplicas } from './replica';
import { openReplication, type ReplicaService } from './replica/scheduler';

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
  const openKeys = keyFileProblems(config);
  if (openKeys.length) throw new StartupError(`refusing key files others may read:\n  - ${openKeys.join('\n  - ')}`);
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
  const stream = { send: async (destHost: string, guest: IncomingGuest) => void (await peerApi(peer).arrive(destHost, guest)) };
  const hypervisor = opts.hypervisor ?? hypervisorFor(config, { nvram, stream, faults });
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
  const svc = await openReplication(config, replicaLog, { nvram: d.nvram, records: d.records, logger: d.log, metrics: d.metrics?.enableReplicas() });
  d.metrics?.setSources({ replicas: () => svc.summary() });
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

/** What a reload reads and builds before anything changes; `apply` puts it in force. */
interface ReloadPrepared {
  /** The renewed certificate and key at the running paths (a TLS listener only). */
  tls?: SecureContextOptions;
  peerAgent: ReturnType<typeof peerHttpsAgent>;
  keysets: ReturnType<typeof loadKeysetsFor>;
}

/** The parts a running sidecar is assembled from (`RunningSidecar.start`). */
interface SidecarParts extends BuiltDriver {
  metrics?: Metrics;
  verifier: SignatureVerifier;
  /** The API's certificate and key when it serves HTTPS. */
  tls?: SecureContextOptions;
}

/**
 * A sidecar. Its state is these fields and nothing else: the configuration in force, whether
 * it is stopping, the last reload's refusal, the start-up recovery's outcome and the reload
 * queue. `start` assembles it, listens, and starts recovering open migration journals.
 */
class RunningSidecar implements Sidecar {
  readonly driver: ShimDriver;
  readonly hypervisor: Hypervisor;
  readonly log: Logger;
  readonly metrics?: Metrics;
  readonly server: Server | HttpsServer;
  port = 0;
  url = '';
  recovered: Promise<void> = Promise.resolve();
  private current: Config;
  private stopping = false;
  private lastReloadError: string | null = null;
  private recovery: string | null = null;
  private reloading: Promise<unknown> = Promise.resolve();
  private readonly inFlight: InFlight;
  private readonly reloadTarget: ReloadTarget<ReloadPrepared>;

  static async start(initial: Config, opts: StartOptions = {}): Promise<Sidecar> {
    const metrics = opts.metrics ?? (initial.api.metrics_enabled ? new Metrics() : undefined);
    const built = await buildDriver(initial, { ...opts, metrics });
    // The names this host answers to follow the configuration in force (a reload may change them).
    const self: { sidecar?: RunningSidecar } = {};
    const verifier = new SignatureVerifier(initial.peer.shared_secret, initial.peer.max_clock_skew, () => ownPeerNames(self.sidecar?.config ?? initial));
    const sidecar = new RunningSidecar(initial, { ...built, metrics, verifier, tls: initial.api.tls_cert_file ? loadTls(initial) : undefined });
    self.sidecar = sidecar;
    await sidecar.listen();
    return sidecar;
  }

  private constructor(
    initial: Config,
    private readonly parts: SidecarParts,
  ) {
    const { driver, hypervisor, log, metrics, firmware, verifier } = parts;
    this.current = initial;
    this.driver = driver;
    this.hypervisor = hypervisor;
    this.log = log;
    this.metrics = metrics;
    const app = createApp({
      driver,
      log,
      settings: () => this.current.api,
      host: initial.DEFAULT.host,
      backend: hypervisor.kind,
      metrics,
      stopping: () => this.stopping,
      readiness: () =>
        readinessChecks({
          config: () => this.current,
          lastReloadError: () => this.lastReloadError,
          firmware,
          hypervisor,
          recovery: () => this.recovery,
          stopping: () => this.stopping,
          replica: driver.core.deps.replicas ? () => driver.core.deps.replicas!.probe(this.current.replica.timeout) : undefined,
        }),
      extraRouters: [
        peerRouter({ verifier, host: initial.DEFAULT.host, metrics, secret: () => this.current.peer.shared_secret }),
        ...(hypervisor.acceptIncoming ? [incomingStreamRouter({ acceptIncoming: (g) => hypervisor.acceptIncoming!(g) })] : []),
      ],
    });
    this.server = parts.tls ? createHttpsServer(parts.tls, app) : createHttpServer(app);
    this.inFlight = new InFlight(this.server);
    this.reloadTarget = {
      log,
      metrics,
      current: () => this.current,
      firmwareNow: () => firmware.inventory(),
      firmwareFor: (next) => firmware.discoverFor(next),
      prepare: (next) => Promise.resolve(this.prepareReload(next)),
      apply: (next, inv, prepared) => this.applyReload(next, inv, prepared),
    };
  }

  /** Listen, start the replica scheduler, and start recovering open migration journals. */
  private async listen(): Promise<void> {
    const { api } = this.current;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (e) => reject(new StartupError(`cannot listen on ${api.host}:${api.port}: ${e.message}; set [api] port`)));
      this.server.listen(api.port, api.host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.driver.core.deps.replicas?.start();
    const hostPart = api.host.includes(':') ? `[${api.host}]` : api.host;
    const scheme = this.parts.tls ? 'https' : 'http';
    this.url = `${scheme}://${hostPart}:${this.port}`;
    this.log.info('listening', { address: api.host, port: this.port, scheme, backend: this.hypervisor.kind, config: this.current.source });

    // Start-up recovery runs while the API already answers (liveness), under each instance's
    // lock (a Nova call for the instance waits for it); /readyz says 503 until it is done.
    this.recovered = this.driver.recoverJournals().then(
      (outcomes) => {
        this.recovery = describeRecovery(outcomes);
      },
      (e: unknown) => {
        this.log.error('start-up recovery failed; open journals wait for Nova', { error: (e as Error).message });
        this.recovery = `failed (${(e as Error).message}); open journals complete on Nova's next call`;
      },
    );
  }

  /** The configuration in force (a reload replaces it). */
  get config(): Config {
    return this.current;
  }

  /**
   * TLS material is read before anything changes: a renewed certificate at the running path
   * (the API's paths are restart-only) and the peers' CA, both must load; and every Secure
   * Boot key set file must check out, or the reload is refused as a whole.
   */
  private prepareReload(next: Config): Prepared<ReloadPrepared> {
    const problems: string[] = [...keyFileProblems(next)];
    let tls: SecureContextOptions | undefined;
    let peerAgent: ReturnType<typeof peerHttpsAgent> | undefined;
    try {
      if (this.parts.tls) tls = loadTls(next);
    } catch (e) {
      problems.push((e as Error).message);
    }
    try {
      peerAgent = peerHttpsAgent(next);
    } catch (e) {
      problems.push((e as Error).message);
    }
    const keysets = loadKeysetsFor(next, this.parts.firmware, this.log);
    problems.push(...keysets.problems);
    return problems.length ? { problems } : { value: { tls, peerAgent, keysets } };
  }

  /** Everything in one synchronous step, so no call sees half of the new configuration. */
  private applyReload(next: Config, inv: FirmwareInventory, prepared: ReloadPrepared): void {
    this.current = next;
    this.driver.core.reconfigure(next);
    this.parts.firmware.reconfigure(next, inv);
    this.parts.peer.reconfigure(next, prepared.peerAgent);
    if (prepared.tls) (this.server as HttpsServer).setSecureContext(prepared.tls);
    this.parts.verifier.reconfigure(next.peer.shared_secret, next.peer.max_clock_skew);
    this.driver.core.deps.keysets.replace(prepared.keysets);
    this.log.setLevel(next.DEFAULT.debug ? 'debug' : 'info');
  }

  reload(file: string): Promise<ReloadResult> {
    // One reload at a time (two SIGHUPs in a row apply in order).
    const run = this.reloading.then(() => reloadConfig(file, this.reloadTarget));
    this.reloading = run.catch(() => undefined);
    return run.then((r) => {
      this.lastReloadError = r.ok ? null : r.problems.join('; ');
      return r;
    });
  }

  async shutdown(timeoutSec: number): Promise<boolean> {
    const { server, driver, log, hypervisor, inFlight } = this;
    this.stopping = true;
    server.close();
    server.closeIdleConnections();
    const busy = () => driver.core.locks.busyKeys();
    const drained = await settleWithin(Promise.all([inFlight.idle(), driver.core.locks.idle(), this.recovered]), timeoutSec * 1000);
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
  }

  async close(): Promise<void> {
    this.stopping = true;
    await this.recovered;
    await new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections?.();
    await this.driver.core.deps.replicas?.stop();
    await this.hypervisor.close?.();
  }
}

/** Assemble the sidecar for `initial`, listen, and start recovering open migration journals. */
export function startSidecar(initial: Config, opts: StartOptions = {}): Promise<Sidecar> {
  return RunningSidecar.start(initial, opts);
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
