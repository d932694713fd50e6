/**
 * @module metrics
 * The sidecar's Prometheus metrics (prom-client), one registry per sidecar (tests run several
 * in one process). The modules that do the work record into it: the API (requests), the
 * driver (Nova operations, lock waits), the journal store (migration steps and outcomes), the
 * NVRAM store (bytes written), the peer client and peer routes (bytes sent, peer calls), the
 * reloader (reloads). Gauges that describe state (open journal entries, firmware problems)
 * are read from their owner when Prometheus scrapes, through `setSources`, so they can never
 * drift from the files.
 *
 * Every module takes the metrics as an optional dependency: without one (unit tests, or
 * `[api] metrics_enabled = false`) nothing is recorded and nothing is paid.
 *
 * NOTE(metrics): features that do not exist yet bring their own metrics when they land, by
 * registering them here beside the others (one place lists every name, for the README):
 *   - replica store: `nova_uefi_shim_replica_lag_seconds` (gauge, per instance's newest
 *     generation not yet read back);
 *   - queued Secure Boot changes: `nova_uefi_shim_secure_boot_changes_pending` (gauge, read
 *     from the queue at scrape time like `journalsOpen`).
 * Nothing is registered for them before then: a metric that is always zero would say
 * "no lag" where the truth is "no replica".
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const PREFIX = 'nova_uefi_shim_';

/** Seconds: HTTP answers are sub-millisecond (get_info) to tens of seconds (a soft reboot's wait). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Seconds a call waited for its instance's lock: zero almost always. */
const LOCK_BUCKETS = [0.0001, 0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120];

export interface JournalSummary {
  kind: string;
  role: string;
  status: string;
}

/** State read at scrape time from the modules that own it. */
export interface MetricSources {
  /** The open migration journal entries. */
  journals?: () => Promise<JournalSummary[]>;
  /** The current firmware problems (discovery, refresh, reload). */
  firmwareProblems?: () => readonly { severity: string }[];
}

/** Outcome label of an operation: `success`, or the Nova exception name it failed with. */
export function outcomeOf(e: unknown): string {
  const type = (e as { type?: unknown } | null)?.type;
  return typeof type === 'string' && /^[A-Za-z]{1,64}$/.test(type) ? type : 'InternalError';
}

export class Metrics {
  readonly registry = new Registry();
  private sources: MetricSources = {};

  readonly httpRequests = new Counter({
    name: `${PREFIX}http_requests_total`,
    help: 'HTTP requests answered, by HTTP method, route template and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'Time from request to the last byte of the answer, by HTTP method, route template and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly driverOperations = new Counter({
    name: `${PREFIX}driver_operations_total`,
    help: "Driver operations, by Nova method (the OpenAPI operationId) and outcome ('success' or the Nova exception name).",
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly driverDuration = new Histogram({
    name: `${PREFIX}driver_operation_duration_seconds`,
    help: 'Time a driver operation took, lock wait included, by Nova method and outcome.',
    labelNames: ['operation', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly lockWait = new Histogram({
    name: `${PREFIX}lock_wait_seconds`,
    help: "Time a call waited for its instance's lock (calls for one instance run one at a time).",
    buckets: LOCK_BUCKETS,
    registers: [this.registry],
  });
  readonly migrationSteps = new Counter({
    name: `${PREFIX}migration_steps_total`,
    help: 'Migration journal writes, by kind (cold, live), role (source, dest) and step (the status written).',
    labelNames: ['kind', 'role', 'step'] as const,
    registers: [this.registry],
  });
  readonly migrationsFinished = new Counter({
    name: `${PREFIX}migrations_finished_total`,
    help: "Migrations whose journal on this host closed, by kind, role and outcome: 'completed', 'reverted', 'rolled-back', or 'dropped' (removed before a final step, e.g. a destination's staged copy on revert).",
    labelNames: ['kind', 'role', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly journalsOpen = new Gauge({
    name: `${PREFIX}migration_journals_open`,
    help: 'Open migration journal entries on this host, by kind, role and status. One that stays is a migration Nova has not finished or reverted.',
    labelNames: ['kind', 'role', 'status'] as const,
    registers: [this.registry],
    collect: async () => this.collectJournals(),
  });
  readonly nvramBytesWritten = new Counter({
    name: `${PREFIX}nvram_bytes_written_total`,
    help: 'Bytes of variable stores written to the NVRAM directory (new stores, resets, stashes, received copies, edits).',
    registers: [this.registry],
  });
  readonly nvramBytesSent = new Counter({
    name: `${PREFIX}nvram_bytes_sent_total`,
    help: 'Bytes of variable stores sent to peer sidecars (uncompressed size; the wire carries them compressed).',
    registers: [this.registry],
  });
  readonly peerDuration = new Histogram({
    name: `${PREFIX}peer_request_duration_seconds`,
    help: 'Signed calls to peer sidecars, by peer host, HTTP method and outcome (success, or the failure reason).',
    labelNames: ['peer', 'method', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly peerFailures = new Counter({
    name: `${PREFIX}peer_request_failures_total`,
    help: "Failed calls to peer sidecars, by peer host and reason ('timeout', 'unreachable', 'tls', 'http', or the peer's Nova exception name).",
    labelNames: ['peer', 'reason'] as const,
    registers: [this.registry],
  });
  readonly firmwareProblems = new Gauge({
    name: `${PREFIX}firmware_problems`,
    help: 'Problems found in the firmware map and QEMU descriptors at the last discovery, by severity (GET /v1/host/firmware lists them).',
    labelNames: ['severity'] as const,
    registers: [this.registry],
    collect: () => this.collectFirmware(),
  });
  readonly reloads = new Counter({
    name: `${PREFIX}config_reloads_total`,
    help: "Configuration reloads (SIGHUP), by outcome: 'success' or 'failed' (the old configuration kept serving).",
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly lastReloadSuccessful = new Gauge({
    name: `${PREFIX}config_last_reload_successful`,
    help: '1 when the last configuration reload (or the start) succeeded, 0 when the last reload was refused.',
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    // Process metrics (CPU, memory, file descriptors, event loop lag, GC), unprefixed as
    // every Node exporter names them, so existing dashboards apply.
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.lastReloadSuccessful.set(1);
    for (const severity of ['warning', 'error']) this.firmwareProblems.set({ severity }, 0);
  }

  /** Where the scrape-time gauges read their state; called once the owners exist. */
  setSources(sources: MetricSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  /** The text exposition format and its content type. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  private async collectJournals(): Promise<void> {
    const list = (await this.sources.journals?.()) ?? [];
    this.journalsOpen.reset();
    for (const j of list) this.journalsOpen.inc({ kind: j.kind, role: j.role, status: j.status });
  }

  private collectFirmware(): void {
    const counts: Record<string, number> = { warning: 0, error: 0 };
    for (const p of this.sources.firmwareProblems?.() ?? []) counts[p.severity] = (counts[p.severity] ?? 0) + 1;
    for (const [severity, n] of Object.entries(counts)) this.firmwareProblems.set({ severity }, n);
  }
}
