/**
 * @module api/methods
 * The table of instance methods served at `POST /v1/instances/{instance_uuid}/{method}`:
 * Nova method name (the OpenAPI operationId) → the driver call. The table's type comes from
 * the driver's contract (`InstanceMethods`), so a handler can only pass a method the
 * arguments the contract declares and must return its declared result; a compile-time check
 * below ties each result to the OpenAPI response schema.
 */
import type { ArgsFor, ComputeDriver, InstanceMethodName, ResultFor } from '../driver/contract';
import type { ResponseOf } from '../wire';

type Handler<M extends InstanceMethodName> = (driver: ComputeDriver, uuid: string, args: ArgsFor<M>) => Promise<ResultFor<M>>;

export const INSTANCE_METHODS: { readonly [M in InstanceMethodName]: Handler<M> } = {
  spawn: (d, u, a) => d.spawn(u, a),
  destroy: (d, u, a) => d.destroy(u, a),
  reboot: (d, u, a) => d.reboot(u, a),
  power_off: (d, u, a) => d.powerOff(u, a),
  power_on: (d, u, a) => d.powerOn(u, a),
  rebuild: (d, u, a) => d.rebuild(u, a),
  rescue: (d, u, a) => d.rescue(u, a),
  unrescue: (d, u, a) => d.unrescue(u, a),
  migrate_disk_and_power_off: (d, u, a) => d.migrateDiskAndPowerOff(u, a),
  finish_migration: (d, u, a) => d.finishMigration(u, a),
  confirm_migration: (d, u, a) => d.confirmMigration(u, a),
  finish_revert_migration: (d, u, a) => d.finishRevertMigration(u, a),
  check_can_live_migrate_destination: (d, u, a) => d.checkCanLiveMigrateDestination(u, a),
  check_can_live_migrate_source: (d, u, a) => d.checkCanLiveMigrateSource(u, a),
  pre_live_migration: (d, u, a) => d.preLiveMigration(u, a),
  live_migration: (d, u, a) => d.liveMigration(u, a),
  post_live_migration: (d, u, a) => d.postLiveMigration(u, a),
  post_live_migration_at_source: (d, u, a) => d.postLiveMigrationAtSource(u, a),
  post_live_migration_at_destination: (d, u, a) => d.postLiveMigrationAtDestination(u, a),
  rollback_live_migration_at_source: (d, u, a) => d.rollbackLiveMigrationAtSource(u, a),
  rollback_live_migration_at_destination: (d, u, a) => d.rollbackLiveMigrationAtDestination(u, a),
  cleanup: (d, u, a) => d.cleanup(u, a),
};

export function isInstanceMethod(name: string): name is InstanceMethodName {
  return Object.prototype.hasOwnProperty.call(INSTANCE_METHODS, name);
}

/** Call one instance method with arguments already validated for it. */
export function callInstanceMethod<M extends InstanceMethodName>(driver: ComputeDriver, method: M, uuid: string, args: ArgsFor<M>): Promise<ResultFor<M>> {
  const handler: Handler<M> = INSTANCE_METHODS[method];
  return handler(driver, uuid, args);
}

/** Compile-time: every method's result is a body its OpenAPI 200 response allows (`never` marks one that is not). */
type ResultsConform = { [M in InstanceMethodName]: ResultFor<M> extends ResponseOf<M> ? true : never };
export const RESULTS_CONFORM: ResultsConform = {
  spawn: true,
  destroy: true,
  reboot: true,
  power_off: true,
  power_on: true,
  rebuild: true,
  rescue: true,
  unrescue: true,
  migrate_disk_and_power_off: true,
  finish_migration: true,
  confirm_migration: true,
  finish_revert_migration: true,
  check_can_live_migrate_destination: true,
  check_can_live_migrate_source: true,
  pre_live_migration: true,
  live_migration: true,
  post_live_migration: true,
  post_live_migration_at_source: true,
  post_live_migration_at_destination: true,
  rollback_live_migration_at_source: true,
  rollback_live_migration_at_destination: true,
  cleanup: true,
};
