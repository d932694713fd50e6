/**
 * @module tempest-compat/lib/clients/servers
 * A small in-process emulation of Nova's compute API + conductor + compute manager, shaped
 * like tempest's `servers_client`: actions return at once and run in the background, driving
 * the sidecars' driver calls in the order nova/compute/manager.py makes them, while the server
 * record moves through Nova's vm_state/task_state pairs; `showServer` maps them to the API
 * status exactly as nova/api/openstack/common.py `_STATE_MAP` does. Waiters poll it.
 *
 * It deliberately does not schedule by resources, manage networks or volumes, or retry
 * builds: a driver failure during build puts the server into ERROR with a fault, as Nova does
 * when no reschedule is possible.
 */
import { randomUUID } from 'node:crypto';
import type { FlavorRef, ImageProps } from '../config';
import { ComputeApiError, RestClientException } from '../exceptions';
import { POWER_STATE, type DriverClient, type InstanceView } from './driver';

export type VmState = 'building' | 'active' | 'stopped' | 'resized' | 'rescued' | 'error' | 'deleted';

export interface Fault {
  code: number;
  message: string;
  details: string;
  created: string;
}

export interface MigrationRecord {
  id: number;
  uuid: string;
  instance_uuid: string;
  source_compute: string;
  dest_compute: string;
  source_node: string;
  dest_node: string;
  migration_type: 'resize' | 'migration' | 'live-migration';
  status: string;
  old_instance_type_id: string;
  new_instance_type_id: string;
}

interface ServerRecord {
  id: string;
  instanceId: number;
  name: string;
  host: string;
  vmState: VmState;
  taskState: string | null;
  powerState: number;
  flavor: FlavorRef;
  oldFlavor: FlavorRef | null;
  image: ImageProps;
  fault: Fault | null;
  systemMetadata: Record<string, string>;
  instanceName: string | null;
  /** Observed API statuses in order (deduplicated), for asserting transitions. */
  history: string[];
  migrations: MigrationRecord[];
  busy: Promise<void> | null;
  deleted: boolean;
}

/** The server view tempest tests read (subset of GET /servers/{id} with admin attributes). */
export interface ServerView {
  id: string;
  name: string;
  status: string;
  'OS-EXT-STS:vm_state': VmState;
  'OS-EXT-STS:task_state': string | null;
  'OS-EXT-STS:power_state': number;
  'OS-EXT-SRV-ATTR:host': string;
  'OS-EXT-SRV-ATTR:instance_name': string | null;
  flavor: FlavorRef;
  image: ImageProps;
  fault?: Fault;
}

/** nova/api/openstack/common.py `_STATE_MAP`. */
export function apiStatus(vm: VmState, task: string | null): string {
  const t = task ?? 'default';
  const map: Record<VmState, Record<string, string>> = {
    building: { default: 'BUILD' },
    active: {
      default: 'ACTIVE',
      rebooting: 'REBOOT',
      reboot_pending: 'REBOOT',
      reboot_started: 'REBOOT',
      rebooting_hard: 'HARD_REBOOT',
      reboot_pending_hard: 'HARD_REBOOT',
      reboot_started_hard: 'HARD_REBOOT',
      rebuilding: 'REBUILD',
      rebuild_block_device_mapping: 'REBUILD',
      rebuild_spawning: 'REBUILD',
      migrating: 'MIGRATING',
      resize_prep: 'RESIZE',
      resize_migrating: 'RESIZE',
      resize_migrated: 'RESIZE',
      resize_finish: 'RESIZE',
      resize_reverting: 'REVERT_RESIZE',
      resize_confirming: 'ACTIVE',
    },
    stopped: {
      default: 'SHUTOFF',
      resize_prep: 'RESIZE',
      resize_migrating: 'RESIZE',
      resize_migrated: 'RESIZE',
      resize_finish: 'RESIZE',
      resize_reverting: 'REVERT_RESIZE',
      rebuilding: 'REBUILD',
      rebuild_spawning: 'REBUILD',
    },
    resized: { default: 'VERIFY_RESIZE', resize_reverting: 'REVERT_RESIZE' },
    rescued: { default: 'RESCUE' },
    error: { default: 'ERROR', rebuilding: 'REBUILD' },
    deleted: { default: 'DELETED' },
  };
  return map[vm][t] ?? map[vm].default;
}

let nextInstanceId = (Math.floor(Date.now() / 1000) % 100000) * 100;
let nextMigrationId = 1;

export interface CreateServerOptions {
  name?: string;
  image: ImageProps;
  flavor: FlavorRef;
  /** Target compute host (admin `host` in the create request); default: first configured host. */
  host?: string;
  powerOn?: boolean;
}

export class ServersClient {
  private readonly servers = new Map<string, ServerRecord>();

  constructor(
    private readonly drivers: Map<string, DriverClient>,
    private readonly opts: { shutdownTimeout: number },
  ) {}

  driver(host: string): DriverClient {
    const d = this.drivers.get(host);
    if (!d) throw new Error(`no sidecar configured for compute host ${host}`);
    return d;
  }

  hosts(): string[] {
    return [...this.drivers.keys()];
  }

  // ---------------- API surface ----------------

  createServer(o: CreateServerOptions): ServerView {
    const host = o.host ?? this.hosts()[0];
    this.driver(host);
    const rec: ServerRecord = {
      id: randomUUID(),
      instanceId: ++nextInstanceId,
      name: o.name ?? `tempest-compat-server-${nextInstanceId}`,
      host,
      vmState: 'building',
      taskState: 'scheduling',
      powerState: POWER_STATE.NOSTATE,
      flavor: o.flavor,
      oldFlavor: null,
      image: { ...o.image },
      fault: null,
      systemMetadata: {},
      instanceName: null,
      history: [],
      migrations: [],
      busy: null,
      deleted: false,
    };
    this.servers.set(rec.id, rec);
    this.note(rec);
    this.run(rec, async () => {
      this.setTask(rec, 'spawning');
      try {
        const v = await this.driver(rec.host).call(rec.id, 'spawn', {
          instance: this.instanceObj(rec),
          image_meta: { properties: rec.image },
          flavor: this.flavorObj(rec.flavor),
          network_info: [],
          block_device_info: null,
          power_on: o.powerOn !== false,
          admin_password: null,
          injected_files: [],
          allocations: {},
        });
        this.absorb(rec, v);
        this.setState(rec, v.power_state === POWER_STATE.RUNNING ? 'active' : 'stopped', null);
      } catch (e) {
        this.fail(rec, e);
      }
    });
    return this.view(rec);
  }

  showServer(id: string): ServerView {
    const rec = this.servers.get(id);
    if (!rec || rec.deleted) throw new ComputeApiError(404, `Instance ${id} could not be found.`);
    return this.view(rec);
  }

  /** Status transitions observed so far (BUILD, ACTIVE, HARD_REBOOT, ...). */
  statusHistory(id: string): string[] {
    return [...(this.servers.get(id)?.history ?? [])];
  }

  listMigrations(id: string): MigrationRecord[] {
    return (this.servers.get(id)?.migrations ?? []).map((m) => ({ ...m }));
  }

  deleteServer(id: string): void {
    const rec = this.servers.get(id);
    if (!rec || rec.deleted) throw new ComputeApiError(404, `Instance ${id} could not be found.`);
    // Nova lets delete interrupt most tasks; the emulation waits for the running one.
    const prev = rec.busy ?? Promise.resolve();
    rec.taskState = 'deleting';
    this.note(rec);
    rec.busy = prev
      .then(async () => {
        rec.taskState = 'deleting';
        try {
          await this.driver(rec.host).call(rec.id, 'destroy', {
            instance: this.instanceObj(rec),
            network_info: [],
            block_device_info: null,
            destroy_disks: true,
          });
          rec.deleted = true;
          rec.vmState = 'deleted';
          rec.taskState = null;
          this.note(rec);
        } catch (e) {
          this.fail(rec, e);
        }
      })
      .finally(() => {
        rec.busy = null;
      });
  }

  rebootServer(id: string, type: 'SOFT' | 'HARD'): void {
    const rec = this.acting(id, type === 'HARD' ? ['active', 'stopped', 'error'] : ['active']);
    this.action(rec, type === 'HARD' ? 'reboot_started_hard' : 'reboot_started', async () => {
      const v = await this.driver(rec.host).call(rec.id, 'reboot', {
        instance: this.instanceObj(rec),
        network_info: [],
        reboot_type: type,
        block_device_info: null,
      });
      this.absorb(rec, v);
      this.setState(rec, 'active', null);
    });
  }

  stopServer(id: string): void {
    const rec = this.acting(id, ['active', 'rescued', 'error']);
    this.action(rec, 'powering-off', async () => {
      const v = await this.driver(rec.host).call(rec.id, 'power_off', {
        instance: this.instanceObj(rec),
        timeout: this.opts.shutdownTimeout,
        retry_interval: 1,
      });
      this.absorb(rec, v);
      this.setState(rec, 'stopped', null);
    });
  }

  startServer(id: string): void {
    const rec = this.acting(id, ['stopped']);
    this.action(rec, 'powering-on', async () => {
      const v = await this.driver(rec.host).call(rec.id, 'power_on', { instance: this.instanceObj(rec), network_info: [], block_device_info: null });
      this.absorb(rec, v);
      this.setState(rec, 'active', null);
    });
  }

  rebuildServer(id: string, image: ImageProps, o: { preserveNvram?: boolean } = {}): void {
    const rec = this.acting(id, ['active', 'stopped', 'error']);
    const wasStopped = rec.vmState === 'stopped';
    this.action(rec, 'rebuilding', async () => {
      rec.image = { ...image };
      this.setTask(rec, 'rebuild_spawning');
      const kwargs: Record<string, unknown> = {
        instance: this.instanceObj(rec),
        image_meta: { properties: rec.image },
        flavor: this.flavorObj(rec.flavor),
        injected_files: [],
        admin_password: null,
        allocations: {},
        bdms: [],
        detach_block_devices: null,
        attach_block_devices: null,
        network_info: [],
        recreate: false,
        block_device_info: null,
        preserve_ephemeral: false,
        accel_uuids: [],
        power_on: !wasStopped,
      };
      if (o.preserveNvram !== undefined) kwargs.preserve_nvram = o.preserveNvram;
      const v = await this.driver(rec.host).call(rec.id, 'rebuild', kwargs);
      this.absorb(rec, v);
      this.setState(rec, wasStopped ? 'stopped' : 'active', null);
    });
  }

  rescueServer(id: string, rescueImage?: ImageProps): void {
    const rec = this.acting(id, ['active', 'stopped', 'error']);
    this.action(rec, 'rescuing', async () => {
      const v = await this.driver(rec.host).call(rec.id, 'rescue', {
        instance: this.instanceObj(rec),
        image_meta: { properties: rescueImage ?? rec.image },
        rescue_password: 'tempest-rescue',
        network_info: [],
        block_device_info: null,
      });
      this.absorb(rec, v);
      this.setState(rec, 'rescued', null);
    });
  }

  unrescueServer(id: string): void {
    const rec = this.acting(id, ['rescued']);
    this.action(rec, 'unrescuing', async () => {
      const v = await this.driver(rec.host).call(rec.id, 'unrescue', { instance: this.instanceObj(rec), network_info: [] });
      this.absorb(rec, v);
      this.setState(rec, 'active', null);
    });
  }

  /** Resize (flavor change) or cold migrate (`flavor` undefined). Destination: `host` or another configured host. */
  resizeServer(id: string, flavor: FlavorRef): void {
    const rec = this.get(id);
    if (flavor.name === rec.flavor.name) throw new ComputeApiError(400, 'When resizing, instances must change flavor!');
    this.coldMove(id, flavor, undefined, 'resize');
  }

  migrateServer(id: string, o: { host?: string } = {}): void {
    this.coldMove(id, undefined, o.host, 'migration');
  }

  private coldMove(id: string, newFlavor: FlavorRef | undefined, host: string | undefined, type: 'resize' | 'migration'): void {
    const rec = this.acting(id, ['active', 'stopped']);
    const dest = host ?? this.hosts().find((h) => h !== rec.host) ?? (type === 'resize' ? rec.host : undefined);
    if (!dest) throw new ComputeApiError(400, 'No valid host was found. No other compute host to migrate to.');
    if (type === 'migration' && dest === rec.host) throw new ComputeApiError(400, 'Unable to migrate instance to the same host.');
    this.driver(dest);
    const wasStopped = rec.vmState === 'stopped';
    const src = rec.host;
    const mig: MigrationRecord = {
      id: nextMigrationId++,
      uuid: randomUUID(),
      instance_uuid: rec.id,
      source_compute: src,
      dest_compute: dest,
      source_node: src,
      dest_node: dest,
      migration_type: type,
      status: 'pre-migrating',
      old_instance_type_id: rec.flavor.name,
      new_instance_type_id: (newFlavor ?? rec.flavor).name,
    };
    rec.migrations.push(mig);
    const targetFlavor = newFlavor ?? rec.flavor;
    this.action(rec, 'resize_prep', async () => {
      // compute manager on the source: resize_instance -> _resize_instance
      mig.status = 'migrating';
      this.setTask(rec, 'resize_migrating');
      let disk_info: unknown = '[]';
      try {
        const r = await this.driver(src).call<Record<string, unknown>>(rec.id, 'migrate_disk_and_power_off', {
          instance: this.instanceObj(rec),
          dest,
          flavor: this.flavorObj(targetFlavor),
          network_info: [],
          block_device_info: null,
          timeout: this.opts.shutdownTimeout,
          retry_interval: 1,
          migration: { ...mig },
        });
        if (r && typeof r === 'object' && 'disk_info' in r) disk_info = r.disk_info;
      } catch (e) {
        mig.status = 'error';
        throw e;
      }
      mig.status = 'post-migrating';
      this.setTask(rec, 'resize_migrated');
      // Nova points the instance at the destination before casting finish_resize.
      rec.host = dest;
      // compute manager on the destination: finish_resize -> _finish_resize
      rec.oldFlavor = rec.flavor;
      rec.flavor = targetFlavor;
      this.setTask(rec, 'resize_finish');
      try {
        const v = await this.driver(dest).call(rec.id, 'finish_migration', {
          context: null,
          migration: { ...mig },
          instance: this.instanceObj(rec),
          disk_info,
          network_info: [],
          image_meta: { properties: rec.image },
          resize_instance: type === 'resize',
          allocations: {},
          block_device_info: null,
          power_on: !wasStopped,
        });
        this.absorb(rec, v);
      } catch (e) {
        mig.status = 'error';
        throw e;
      }
      mig.status = 'finished';
      this.setState(rec, 'resized', null);
      rec.powerState = wasStopped ? POWER_STATE.SHUTDOWN : POWER_STATE.RUNNING;
    });
  }

  confirmResizeServer(id: string): void {
    const rec = this.acting(id, ['resized']);
    const mig = this.lastMigration(rec, ['finished']);
    this.action(rec, 'resize_confirming', async () => {
      mig.status = 'confirming';
      await this.driver(mig.source_compute).call(rec.id, 'confirm_migration', { migration: { ...mig }, instance: this.instanceObj(rec), network_info: [] });
      mig.status = 'confirmed';
      rec.oldFlavor = null;
      this.setState(rec, rec.powerState === POWER_STATE.RUNNING ? 'active' : 'stopped', null);
    });
  }

  revertResizeServer(id: string): void {
    const rec = this.acting(id, ['resized']);
    const mig = this.lastMigration(rec, ['finished']);
    const powerOn = rec.powerState === POWER_STATE.RUNNING;
    this.action(rec, 'resize_reverting', async () => {
      mig.status = 'reverting';
      // destination: revert_resize -> driver.destroy (instance still on the destination)
      await this.driver(mig.dest_compute).call(rec.id, 'destroy', {
        instance: this.instanceObj(rec),
        network_info: [],
        block_device_info: null,
        destroy_disks: true,
        migrate_data: null,
      });
      // source: finish_revert_resize (flavor and host back first, as Nova does)
      if (rec.oldFlavor) rec.flavor = rec.oldFlavor;
      rec.oldFlavor = null;
      rec.host = mig.source_compute;
      const v = await this.driver(mig.source_compute).call(rec.id, 'finish_revert_migration', {
        context: null,
        instance: this.instanceObj(rec),
        network_info: [],
        migration: { ...mig },
        block_device_info: null,
        power_on: powerOn,
      });
      this.absorb(rec, v);
      mig.status = 'reverted';
      this.setState(rec, powerOn ? 'active' : 'stopped', null);
    });
  }

  /** Live migration in nova/conductor/tasks/live_migrate.py + compute manager order. */
  liveMigrateServer(id: string, o: { host?: string; blockMigration?: boolean } = {}): void {
    const rec = this.acting(id, ['active']);
    const src = rec.host;
    const dest = o.host ?? this.hosts().find((h) => h !== src);
    if (!dest || dest === src) throw new ComputeApiError(400, 'No valid host was found. No other compute host to live-migrate to.');
    this.driver(dest);
    const block = o.blockMigration ?? true;
    const mig: MigrationRecord = {
      id: nextMigrationId++,
      uuid: randomUUID(),
      instance_uuid: rec.id,
      source_compute: src,
      dest_compute: dest,
      source_node: src,
      dest_node: dest,
      migration_type: 'live-migration',
      status: 'accepted',
      old_instance_type_id: rec.flavor.name,
      new_instance_type_id: rec.flavor.name,
    };
    rec.migrations.push(mig);
    this.action(rec, 'migrating', async () => {
      const s = this.driver(src);
      const d = this.driver(dest);
      let md: unknown = null;
      const take = (r: unknown) => {
        if (r && typeof r === 'object' && 'migrate_data' in r) md = r.migrate_data;
      };
      try {
        take(
          await d.call(rec.id, 'check_can_live_migrate_destination', {
            instance: this.instanceObj(rec),
            src_compute_info: { host: src },
            dst_compute_info: { host: dest },
            block_migration: block,
            disk_over_commit: false,
          }),
        );
        take(await s.call(rec.id, 'check_can_live_migrate_source', { instance: this.instanceObj(rec), dest_check_data: md, block_device_info: null }));
      } catch (e) {
        mig.status = 'error';
        // pre-check failures leave the instance ACTIVE (MigrationPreCheckError)
        rec.taskState = null;
        this.note(rec);
        throw Object.assign(e as Error, { keepState: true });
      }
      mig.status = 'preparing';
      try {
        take(
          await d.call(rec.id, 'pre_live_migration', {
            instance: this.instanceObj(rec),
            block_device_info: null,
            network_info: [],
            disk_info: null,
            migrate_data: md,
          }),
        );
        mig.status = 'running';
        await s.call(rec.id, 'live_migration', { instance: this.instanceObj(rec), dest, block_migration: block, migrate_data: md });
      } catch (e) {
        mig.status = 'error';
        await this.rollbackLive(rec, src, dest, md);
        throw Object.assign(e as Error, { keepState: true });
      }
      mig.status = 'post-migrating';
      await s.call(rec.id, 'post_live_migration', { instance: this.instanceObj(rec), block_device_info: null, migrate_data: md });
      await s.call(rec.id, 'post_live_migration_at_source', { instance: this.instanceObj(rec), network_info: [] });
      await s.call(rec.id, 'cleanup', {
        instance: this.instanceObj(rec),
        network_info: [],
        block_device_info: null,
        destroy_disks: block,
        migrate_data: md,
        destroy_vifs: true,
      });
      const v = await d.call(rec.id, 'post_live_migration_at_destination', {
        instance: this.instanceObj(rec),
        network_info: [],
        block_migration: block,
        block_device_info: null,
      });
      rec.host = dest;
      this.absorb(rec, v);
      mig.status = 'completed';
      this.setState(rec, 'active', null);
    });
  }

  private async rollbackLive(rec: ServerRecord, src: string, dest: string, md: unknown): Promise<void> {
    const tolerate = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch {
        /* best effort, as Nova's _rollback_live_migration logs and continues */
      }
    };
    await tolerate(
      this.driver(dest).call(rec.id, 'rollback_live_migration_at_destination', {
        instance: this.instanceObj(rec),
        network_info: [],
        block_device_info: null,
        destroy_disks: true,
        migrate_data: md,
      }),
    );
    await tolerate(this.driver(src).call(rec.id, 'rollback_live_migration_at_source', { instance: this.instanceObj(rec), migrate_data: md }));
    rec.taskState = null;
    this.note(rec);
  }

  /** Resolves when no background action is running on any server. */
  async drain(): Promise<void> {
    for (;;) {
      const busy = [...this.servers.values()].map((r) => r.busy).filter((b): b is Promise<void> => b !== null);
      if (busy.length === 0) return;
      await Promise.allSettled(busy);
    }
  }

  // ---------------- internals ----------------

  private get(id: string): ServerRecord {
    const rec = this.servers.get(id);
    if (!rec || rec.deleted) throw new ComputeApiError(404, `Instance ${id} could not be found.`);
    return rec;
  }

  /** nova.compute.api.check_instance_state: 409 on a wrong vm_state or a pending task. */
  private acting(id: string, vmStates: VmState[] | null): ServerRecord {
    const rec = this.get(id);
    if (rec.taskState !== null || rec.busy) {
      throw new ComputeApiError(409, `Cannot act on instance ${id} while it is in task_state ${rec.taskState}`);
    }
    if (vmStates && !vmStates.includes(rec.vmState)) {
      throw new ComputeApiError(409, `Cannot act on instance ${id} while it is in vm_state ${rec.vmState}`);
    }
    return rec;
  }

  private lastMigration(rec: ServerRecord, statuses: string[]): MigrationRecord {
    const m = [...rec.migrations].reverse().find((x) => statuses.includes(x.status) && x.migration_type !== 'live-migration');
    if (!m) throw new ComputeApiError(404, `Migration for instance ${rec.id} with status ${statuses.join('|')} not found`);
    return m;
  }

  private action(rec: ServerRecord, task: string, body: () => Promise<void>): void {
    this.setTask(rec, task);
    this.run(rec, async () => {
      try {
        await body();
      } catch (e) {
        if ((e as { keepState?: boolean }).keepState) {
          rec.fault = toFault(e);
          rec.taskState = null;
          this.note(rec);
        } else {
          this.fail(rec, e);
        }
      }
    });
  }

  private run(rec: ServerRecord, body: () => Promise<void>): void {
    rec.busy = body().finally(() => {
      rec.busy = null;
    });
  }

  private fail(rec: ServerRecord, e: unknown): void {
    rec.fault = toFault(e);
    this.setState(rec, 'error', null);
  }

  private setTask(rec: ServerRecord, task: string | null): void {
    rec.taskState = task;
    this.note(rec);
  }

  private setState(rec: ServerRecord, vm: VmState, task: string | null): void {
    rec.vmState = vm;
    rec.taskState = task;
    this.note(rec);
  }

  private note(rec: ServerRecord): void {
    const s = apiStatus(rec.vmState, rec.taskState);
    if (rec.history[rec.history.length - 1] !== s) rec.history.push(s);
  }

  private absorb(rec: ServerRecord, v: InstanceView | Record<string, unknown>): void {
    const iv = v as Partial<InstanceView>;
    if (iv.system_metadata && typeof iv.system_metadata === 'object') rec.systemMetadata = { ...iv.system_metadata };
    if (typeof iv.instance_name === 'string') rec.instanceName = iv.instance_name;
    if (typeof iv.power_state === 'number') rec.powerState = iv.power_state;
  }

  private flavorObj(f: FlavorRef): Record<string, unknown> {
    return {
      name: f.name,
      flavorid: f.name,
      vcpus: f.vcpus,
      memory_mb: f.memory_mb,
      root_gb: f.root_gb,
      ephemeral_gb: 0,
      swap: 0,
      extra_specs: { ...f.extra_specs },
    };
  }

  /** The `instance` kwarg: Nova Instance fields the driver reads. */
  private instanceObj(rec: ServerRecord): Record<string, unknown> {
    return {
      uuid: rec.id,
      id: rec.instanceId,
      host: rec.host,
      node: rec.host,
      display_name: rec.name,
      vcpus: rec.flavor.vcpus,
      memory_mb: rec.flavor.memory_mb,
      root_gb: rec.flavor.root_gb,
      flavor: this.flavorObj(rec.flavor),
      old_flavor: rec.oldFlavor ? this.flavorObj(rec.oldFlavor) : null,
      system_metadata: { ...rec.systemMetadata },
      vm_state: rec.vmState,
      task_state: rec.taskState,
      power_state: rec.powerState,
    };
  }

  private view(rec: ServerRecord): ServerView {
    const v: ServerView = {
      id: rec.id,
      name: rec.name,
      status: apiStatus(rec.vmState, rec.taskState),
      'OS-EXT-STS:vm_state': rec.vmState,
      'OS-EXT-STS:task_state': rec.taskState,
      'OS-EXT-STS:power_state': rec.powerState,
      'OS-EXT-SRV-ATTR:host': rec.host,
      'OS-EXT-SRV-ATTR:instance_name': rec.instanceName,
      flavor: rec.flavor,
      image: rec.image,
    };
    if (rec.fault) v.fault = rec.fault;
    return v;
  }
}

function toFault(e: unknown): Fault {
  if (e instanceof RestClientException) {
    return {
      code: e.status,
      message: e.error?.message ? `${e.error.type ?? 'Error'}: ${e.error.message}` : e.message.split('\n')[0],
      details: `request ${e.requestId ?? '(none)'}: ${e.method} ${e.url} -> ${e.status}\n${JSON.stringify(e.body)}`,
      created: new Date().toISOString(),
    };
  }
  const err = e instanceof Error ? e : new Error(String(e));
  return { code: 500, message: err.message, details: err.stack ?? '', created: new Date().toISOString() };
}
