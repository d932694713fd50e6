/**
 * @module driver/novaCalls
 * The Nova calls that choose between flows, and what they announce (events) once a flow did
 * its work: spawn (plain, or restoring a replica on unshelve and evacuate), destroy
 * (shelve-offload or not, then anything staged here, then the destroy announced), rebuild
 * (evacuating on a new host, or in place), power_off (the store changed), and the API's edits of
 * a store. `ShimDriver` delegates to these in one line each; the flows themselves live in
 * lifecycle, restore and coldMigration.
 */
import type { DriverCore, MigrationDeps } from './core';
import type * as C from './contract';
import type { ParsedInstance } from '../nova/instance';
import * as lifecycle from './lifecycle';
import * as cold from './coldMigration';
import * as restore from './restore';

export async function spawn(core: DriverCore, p: ParsedInstance, a: C.SpawnArgs): Promise<C.InstanceView> {
  const kind = restore.spawnRestores(a);
  if (kind) return restore.spawnRestoring(core, p, a, kind);
  const view = await lifecycle.spawn(core, p, a);
  await core.announce({ kind: 'store-changed', uuid: p.uuid, why: 'spawn' });
  if (view.nvram && core.replicas) view.nvram.replica = core.replicas.view(p.uuid);
  return view;
}

export async function destroy(core: DriverCore, md: MigrationDeps | undefined, p: ParsedInstance, a: C.DestroyArgs): Promise<C.Done> {
  const kind = restore.destroyKind(a.instance, core.deps.config.DEFAULT.host);
  const r = kind === 'shelve-offload' && core.replicas ? await restore.shelveOffload(core, p, a) : await lifecycle.destroy(core, p, a);
  // A revert destroys the destination: anything staged here for the instance goes too.
  if (md) await cold.dropStaged(core, md, p);
  if (kind !== 'shelve-offload') await restore.afterDestroy(core, p.uuid, a, kind);
  return r;
}

export async function powerOff(core: DriverCore, uuid: string, a: C.PowerOffArgs): Promise<C.InstanceView> {
  const view = await lifecycle.powerOff(core, uuid, a);
  await core.announce({ kind: 'store-changed', uuid, why: 'stop' });
  return view;
}

export async function rebuild(core: DriverCore, p: ParsedInstance, a: C.RebuildArgs): Promise<C.InstanceView> {
  // Evacuation through rebuild on the new host (a driver with its own rebuild): no record
  // here yet, so it is an evacuating spawn.
  if (a.evacuate === true && core.replicas && !(await core.deps.records.get(p.uuid))) {
    const { instance, image_meta, flavor, network_info, block_device_info, power_on, domain_xml } = a;
    return restore.spawnRestoring(core, p, { instance, image_meta, flavor, network_info, block_device_info, power_on, domain_xml, evacuate: true }, 'evacuate');
  }
  const view = await lifecycle.rebuild(core, p, a);
  await core.announce({ kind: 'rebuilt', uuid: p.uuid });
  return view;
}

/**
 * An edit of the store through the API (the guest is shut off: the write guard saw to it)
 * is a change the replicas must carry, or an evacuation would restore the store without
 * it: announced once the edit succeeded.
 */
export async function edited<T>(core: DriverCore, uuid: string, edit: Promise<T>): Promise<T> {
  const r = await edit;
  await core.announce({ kind: 'store-changed', uuid, why: 'edit' });
  return r;
}
