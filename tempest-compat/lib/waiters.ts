/**
 * @module tempest-compat/lib/waiters
 * tempest/common/waiters.py semantics: poll every `[compute] build_interval` up to
 * `build_timeout`; a status wait is done when the status matches and the task state is null;
 * ERROR raises BuildErrorException with the fault; a timeout names status and task state.
 */
import { CONF } from './config';
import { BuildErrorException, ComputeApiError, DeleteErrorException, MigrationErrorException, TimeoutException } from './exceptions';
import type { ServersClient } from './clients/servers';

export const sleep = (s: number) => new Promise<void>((r) => setTimeout(r, s * 1000));

export async function waitForServerStatus(
  client: ServersClient,
  serverId: string,
  status: string,
  opts: { readyWait?: boolean; extraTimeout?: number; raiseOnError?: boolean; requestId?: string } = {},
): Promise<void> {
  const { build_interval, build_timeout } = CONF.get().compute;
  const timeout = build_timeout + (opts.extraTimeout ?? 0);
  const start = Date.now();
  let body = client.showServer(serverId);
  let oldStatus = body.status;
  let oldTask = body['OS-EXT-STS:task_state'];
  for (;;) {
    if (body.status === status && body['OS-EXT-STS:task_state'] === null) return;
    if (body.status === 'ERROR' && status !== 'ERROR' && opts.raiseOnError !== false && body['OS-EXT-STS:task_state'] === null) {
      throw new BuildErrorException(serverId, body.fault ?? null);
    }
    if ((Date.now() - start) / 1000 > timeout) {
      throw new TimeoutException(
        `Server ${serverId} failed to reach ${status} status and task state "None" within the required time (${timeout} s).` +
          `${opts.requestId ? ` Server boot request ID: ${opts.requestId}.` : ''}` +
          ` Current status: ${body.status}. Current task state: ${body['OS-EXT-STS:task_state']}.`,
      );
    }
    await sleep(build_interval);
    body = client.showServer(serverId);
    if (body.status !== oldStatus || body['OS-EXT-STS:task_state'] !== oldTask) {
      oldStatus = body.status;
      oldTask = body['OS-EXT-STS:task_state'];
    }
  }
}

export async function waitForServerTermination(client: ServersClient, serverId: string, opts: { ignoreError?: boolean } = {}): Promise<void> {
  const { build_interval, build_timeout } = CONF.get().compute;
  const start = Date.now();
  for (;;) {
    let body;
    try {
      body = client.showServer(serverId);
    } catch (e) {
      if (e instanceof ComputeApiError && e.status === 404) return;
      throw e;
    }
    if (body.status === 'ERROR' && !opts.ignoreError && body['OS-EXT-STS:task_state'] === null) {
      throw new DeleteErrorException(`Server ${serverId} failed to delete and is in ERROR status. Fault: ${JSON.stringify(body.fault ?? null)}`);
    }
    if ((Date.now() - start) / 1000 > build_timeout) {
      throw new TimeoutException(
        `Server ${serverId} failed to delete in the required time (${build_timeout} s). Current status: ${body.status}. Current task state: ${body['OS-EXT-STS:task_state']}.`,
      );
    }
    await sleep(build_interval);
  }
}

/** whitebox `wait_for_server_migration_complete`: done|completed|confirmed|finished; raises on error|failed. */
export async function waitForMigrationStatus(client: ServersClient, serverId: string, want: string[]): Promise<void> {
  const { build_interval, build_timeout } = CONF.get().compute;
  const start = Date.now();
  for (;;) {
    const m = client.listMigrations(serverId).at(-1);
    if (m && want.includes(m.status)) return;
    if (m && ['error', 'failed'].includes(m.status)) throw new MigrationErrorException(`Migration ${m.id} of server ${serverId} is ${m.status}`);
    if ((Date.now() - start) / 1000 > build_timeout) {
      throw new TimeoutException(`Migration of server ${serverId} did not reach ${want.join('|')} within ${build_timeout} s; status ${m?.status ?? '(none)'}`);
    }
    await sleep(build_interval);
  }
}
