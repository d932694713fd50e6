/**
 * @module api/methods
 * The table of instance methods served at `POST /v1/instances/{instance_uuid}/{method}`:
 * Nova method name (the OpenAPI operationId) → the driver call. Handlers get the body already
 * validated and unwrapped from versioned objects.
 */
import type { ShimDriver } from '../driver';
import type * as C from '../driver/contract';

export type MethodHandler = (driver: ShimDriver, uuid: string, body: Record<string, unknown>) => Promise<unknown>;

export const INSTANCE_METHODS: Record<string, MethodHandler> = {
  spawn: (d, u, b) => d.spawn(u, b as unknown as C.SpawnArgs),
  destroy: (d, u, b) => d.destroy(u, b as unknown as C.DestroyArgs),
  reboot: (d, u, b) => d.reboot(u, b as unknown as C.RebootArgs),
  power_off: (d, u, b) => d.powerOff(u, b as unknown as C.PowerOffArgs),
  power_on: (d, u, b) => d.powerOn(u, b as unknown as C.InstanceArgs),
  rebuild: (d, u, b) => d.rebuild(u, b as unknown as C.RebuildArgs),
  rescue: (d, u, b) => d.rescue(u, b as unknown as C.RescueArgs),
  unrescue: (d, u, b) => d.unrescue(u, b as unknown as C.InstanceArgs),
};

/** Resize, cold and live migration (issue: carry NVRAM through moves). Answers with migrate data where Nova returns it. */
export const MIGRATION_METHODS: Record<string, MethodHandler> = {
  migrate_disk_and_power_off: (d, u, b) => d.migrateDiskAndPowerOff(u, b as never),
  finish_migration: (d, u, b) => d.finishMigration(u, b as never),
  confirm_migration: (d, u, b) => d.confirmMigration(u, b as never),
  finish_revert_migration: (d, u, b) => d.finishRevertMigration(u, b as never),
  check_can_live_migrate_destination: (d, u, b) => d.checkCanLiveMigrateDestination(u, b as never),
  check_can_live_migrate_source: (d, u, b) => d.checkCanLiveMigrateSource(u, b as never),
  pre_live_migration: (d, u, b) => d.preLiveMigration(u, b as never),
  live_migration: (d, u, b) => d.liveMigration(u, b as never),
  post_live_migration: (d, u, b) => d.postLiveMigration(u, b as never),
  post_live_migration_at_source: (d, u, b) => d.postLiveMigrationAtSource(u, b as never),
  post_live_migration_at_destination: (d, u, b) => d.postLiveMigrationAtDestination(u, b as never),
  rollback_live_migration_at_source: (d, u, b) => d.rollbackLiveMigrationAtSource(u, b as never),
  rollback_live_migration_at_destination: (d, u, b) => d.rollbackLiveMigrationAtDestination(u, b as never),
  cleanup: (d, u, b) => d.cleanup(u, b as never),
};
