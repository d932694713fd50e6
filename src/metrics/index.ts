/**
 * @module metrics
 * The sidecar's Prometheus metrics (prom-client), one registry per sidecar (tests run several
 * in one process). The modules that do the work record into it: the API (requests), the
 * driver (Nova operations, lock waits), the journal store (migration steps and outcomes), the
 * NVRAM store (bytes written), the peer client and peer routes (bytes sent, peer calls), the
 * reloader (reloads), the replica service (generations). Gauges that describe state (open
 * journal entries, firmware problems, queued Secure Boot changes, replica states and lag) are
 * read from their owner when Prometheus scrapes, through `setSources`, so they can never
 * drift from the files.
 *
 * Every module takes the metrics as an optional dependency: without one (unit tests, or
 * `[api] metrics_enabled = false`) nothing is recorded and nothing is paid.
 *
 * Replicas (`[replica] backend` other than `none`) add their metrics through `enableReplicas`,
 * at start-up and only then: without replicas a lag of zero would say "no lag" where the truth
 * is "no replica". The replica gauges are aggregates over the host's instances (a count per
 * state, the age of the oldest unreplicated change), never one series per instance: a host
 * with 10,000 instances would otherwise expose 10,000 series that say "current".
 *
 * Queued Secure Boot changes (`secure_boot_*_pending`) are read from the instance records at
 * scrape time (the records' picked summaries are cached per unchanged record, so a scrape is a
 * readdir and map look-ups).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const PREFIX = 'nova_uefi_shim_';

/** Seconds: HTTP answers are sub-millisecond (get_info) to tens of seconds (a soft reboot's wait). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Seconds a call waited for its instance's lock: zero almost always. */
const LOCK_BUCKETS = [0.0001, 0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120];

/**
 * An open migration journal as label values. The closed sets (kind, role, and each kind's
 * statuses) and their transitions are state/journal's; this module only counts what it is
 * given, and state/journal's summaries fit this shape.
 */
export type JournalSummary = Readonly<Record<'kind' | 'role' | 'status', string>>;

/** What the replica service knows, summed over this host's instances (read at scrape time). */
export interface ReplicaSummary {
  /** Instances per replica state: current, pending, stale, fenced, deleting. */
  states: Record<string, number>;
  /** Epoch ms of the oldest store change no generation holds yet (pending or stale instances), or null. */
  oldestUnreplicated: number | null;
}

/** Queued Secure Boot key changes on this host (read at scrape time). */
export interface SecureBootPendingSummary {
  /** Instances with at least one queued change. */
  instances: number;
  /** Queued changes, all instances together. */
  changes: number;
  /** Epoch ms of the oldest queued change, or null. */
  oldestQueuedAt: number | null;
}

/** The replica counters the replica service records into (`Metrics.enableReplicas`). */
export interface ReplicaMetrics {
  generations: Counter<'reason' | 'outcome'>;
  bytesWritten: Counter;
  olderRestores: Counter<'kind'>;
}

/** Replica states, always exposed (zero when no instance is in one) so alerts see a series. */
const REPLICA_STATES = ['current', 'pending', 'stale', 'fenced', 'deleting'];

/** State read at scrape time from the modules that own it. */
export interface MetricSources {
  /** The open migration journal entries. */
  journals?: () => Promise<JournalSummary[]>;
  /** The current firmware problems (discovery, refresh, reload). */
  firmwareProblems?: () => readonly { severity: string }[];
  /** Queued Secure Boot changes. */
  secureBootPending?: () => Promise<SecureBootPendingSummary>;
  /** The replica service's states (only with replicas configured). */
  replicas?: () => ReplicaSummary;
}

/** Outcome label of an operation: `success`, or the Nova exception name it failed with. */
export function outcomeOf(e: unknown): string {
  const type = (e as { type?: unknown } | null)?.type;
  return typeof type === 'string' && /^[A-Za-z]{1,64}$/.test(type) ? type : 'InternalError';
}

export class Metrics {
  readonly registry = new Registry();
  private sources: MetricSources = {};
  private replica: ReplicaMetrics | undefined;

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
  readonly peerBodyBytesRead = new Counter({
    name: `${PREFIX}peer_body_bytes_read_total`,
    help: 'Bytes of peer request bodies read (as sent). Bodies are read only after their signed headers checked out: refused requests add nothing.',
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

  readonly secureBootInstancesPending = new Gauge({
    name: `${PREFIX}secure_boot_instances_pending`,
    help: "Instances with Secure Boot key changes queued for their next cold boot (the inventory's pending_changes).",
    registers: [this.registry],
    collect: async () => this.collectSecureBoot(),
  });
  readonly secureBootChangesPending = new Gauge({
    name: `${PREFIX}secure_boot_changes_pending`,
    help: 'Secure Boot key changes queued for the next cold boot of their instance, all instances together.',
    registers: [this.registry],
    collect: async () => this.collectSecureBoot(),
  });
  readonly secureBootOldestPending = new Gauge({
    name: `${PREFIX}secure_boot_oldest_pending_seconds`,
    help: 'Age of the oldest queued Secure Boot key change (0 when none): a guest that is never cold-booted never receives it.',
    registers: [this.registry],
    collect: async () => this.collectSecureBoot(),
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

  /**
   * Register the replica metrics (once; later calls return the same counters). Called at
   * start-up when `[replica] backend` is not `none`; their gauges read `sources.replicas`.
   */
  enableReplicas(): ReplicaMetrics {
    if (this.replica) return this.replica;
    const registers = [this.registry];
    const summary = () => this.sources.replicas?.();
    new Gauge({
      name: `${PREFIX}replica_lag_seconds`,
      help: 'Seconds since the oldest change of a variable store that no generation in the replica store holds yet was noticed (queued, or failed and retried); 0 when every store is replicated.',
      registers,
      collect() {
        const oldest = summary()?.oldestUnreplicated;
        this.set(oldest == null ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
      },
    });
    new Gauge({
      name: `${PREFIX}replica_instances`,
      help: "Instances by replica state: current, pending (a generation is queued), stale (the store failed; retried with back-off), fenced (another host owns the replicas now), deleting (a deleted instance's replicas wait for the store).",
      labelNames: ['state'] as const,
      registers,
      collect() {
        const now = summary()?.states ?? {};
        for (const state of new Set([...REPLICA_STATES, ...Object.keys(now)])) this.set({ state }, now[state] ?? 0);
      },
    });
    this.replica = {
      generations: new Counter({
        name: `${PREFIX}replica_generations_total`,
        help: "Generations sent to the replica store, by reason (spawn, stop, move, shelve, unshelve, evacuate, periodic, manual, restore) and outcome ('success', or the error: ReplicaUnavailable, ReplicaFenced, ...).",
        labelNames: ['reason', 'outcome'] as const,
        registers,
      }),
      olderRestores: new Counter({
        name: `${PREFIX}replica_older_restores_total`,
        help: "Restores of a generation older than the newest, each an operator's explicit choice, by kind: 'point-in-time' (POST /nvram/restore on this host), 'pinned' (an unshelve or evacuate following an operator's pin).",
        labelNames: ['kind'] as const,
        registers,
      }),
      bytesWritten: new Counter({
        name: `${PREFIX}replica_bytes_written_total`,
        help: 'Bytes of generations written to the replica store (as stored: compressed and encrypted).',
        registers,
      }),
    };
    return this.replica;
  }

  /** The text exposition format and its content type. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    this.secureBootRead = undefined; // read afresh once per scrape
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  private async collectJournals(): Promise<void> {
    const list = (await this.sources.journals?.()) ?? [];
    this.journalsOpen.reset();
    for (const j of list) this.journalsOpen.inc({ kind: j.kind, role: j.role, status: j.status });
  }

  /** The queued Secure Boot changes, read once for the three gauges of a scrape (kept a second outside `exposition`). */
  private secureBootRead: { at: number; value: Promise<SecureBootPendingSummary | undefined> } | undefined;

  private async collectSecureBoot(): Promise<void> {
    const now = Date.now();
    if (!this.secureBootRead || now - this.secureBootRead.at > 1000)
      this.secureBootRead = { at: now, value: Promise.resolve(this.sources.secureBootPending?.()) };
    const p = await this.secureBootRead.value.catch(() => undefined);
    this.secureBootInstancesPending.set(p?.instances ?? 0);
    this.secureBootChangesPending.set(p?.changes ?? 0);
    this.secureBootOldestPending.set(p?.oldestQueuedAt == null ? 0 : Math.max(0, (Date.now() - p.oldestQueuedAt) / 1000));
  }

  private collectFirmware(): void {
    const counts: Record<string, number> = { warning: 0, error: 0 };
    for (const p of this.sources.firmwareProblems?.() ?? []) counts[p.severity] = (counts[p.severity] ?? 0) + 1;
    for (const [severity, n] of Object.entries(counts)) this.firmwareProblems.set({ severity }, n);
  }
}
