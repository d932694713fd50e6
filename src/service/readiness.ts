/**
 * @module service/readiness
 * What `GET /readyz` checks: may this sidecar take Nova's calls now? Each check answers
 * with what it found, so a 503 says what to fix:
 *   config      the configuration is loaded (and whether the last reload was refused);
 *   nvram_dir   `[nvram] nvram_dir` takes a new file now;
 *   state_dir   `[hypervisor] state_dir` takes a new file now;
 *   firmware    the firmware map and descriptors resolve to at least one usable UEFI entry
 *               for this host's architecture (discovery runs again for the answer);
 *   hypervisor  the backend answers (`virsh version` for libvirt);
 *   recovery    start-up recovery of open migration journals has finished;
 *   replica     with `[replica] backend` set: the replica store answers (the same probe as
 *               `doctor`, bounded by `[replica] timeout`); without one, OK and says so;
 *   stopping    the sidecar is not shutting down.
 * Liveness is `/healthz` (the process answers) and runs none of these.
 */
import type { Config } from '../config';
import type { FirmwareHost } from '../firmware/host';
import type { Hypervisor } from '../hypervisor/types';
import type { ReadinessCheck } from '../api/app';
import { probeWritable } from '../util/atomicFile';

export interface ReadinessState {
  /** The configuration serving now. */
  config(): Config;
  /** The last reload's refusal, when it was refused. */
  lastReloadError?(): string | null;
  firmware: FirmwareHost;
  hypervisor: Hypervisor;
  /** Start-up recovery: null while it runs, then what it did. */
  recovery(): string | null;
  /** True once SIGTERM was received. */
  stopping(): boolean;
  /** The replica store's probe (resolves to what it found, throws when it does not answer); absent for `backend = none`. */
  replica?: () => Promise<string>;
}

async function replicaCheck(s: ReadinessState): Promise<ReadinessCheck> {
  if (!s.replica) return { name: 'replica', ok: true, detail: 'no replica store configured ([replica] backend = none)' };
  try {
    return { name: 'replica', ok: true, detail: await s.replica() };
  } catch (e) {
    return { name: 'replica', ok: false, detail: `the replica store does not answer (${why(e)}); check [replica] endpoint, bucket or path` };
  }
}

function why(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ? `${err.code}: ${err.message}` : String(err?.message ?? e);
}

async function dirCheck(name: ReadinessCheck['name'], dir: string, option: string): Promise<ReadinessCheck> {
  try {
    await probeWritable(dir);
    return { name, ok: true, detail: `${dir} is writable` };
  } catch (e) {
    return { name, ok: false, detail: `cannot create a file in ${dir} (${why(e)}); fix the directory or ${option}` };
  }
}

export async function readinessChecks(s: ReadinessState): Promise<ReadinessCheck[]> {
  const config = s.config();
  const refused = s.lastReloadError?.() ?? null;
  const checks: ReadinessCheck[] = [
    {
      name: 'config',
      ok: true,
      detail: `loaded from ${config.source}` + (refused ? `; the last reload was refused and this configuration keeps serving: ${refused}` : ''),
    },
  ];
  const [nvram, state, hv, replica] = await Promise.all([
    dirCheck('nvram_dir', config.nvram.nvram_dir, '[nvram] nvram_dir'),
    dirCheck('state_dir', config.hypervisor.state_dir, '[hypervisor] state_dir'),
    s.hypervisor.probe().then(
      (v): ReadinessCheck => ({ name: 'hypervisor', ok: true, detail: v }),
      (e): ReadinessCheck => ({ name: 'hypervisor', ok: false, detail: why(e) }),
    ),
    replicaCheck(s),
  ]);
  checks.push(nvram, state);
  const fw = s.firmware;
  const usable = fw.refresh().entries.filter((e) => e.arch === fw.arch);
  checks.push(
    usable.length
      ? { name: 'firmware', ok: true, detail: `${usable.length} usable UEFI ${usable.length === 1 ? 'entry' : 'entries'} for ${fw.arch}` }
      : {
          name: 'firmware',
          ok: false,
          detail: `no usable UEFI firmware for ${fw.arch} (GET /v1/host/firmware lists the problems); set [firmware:${fw.arch}] or [firmware] descriptor_dirs`,
        },
  );
  checks.push(hv);
  const recovered = s.recovery();
  checks.push(
    recovered === null
      ? { name: 'recovery', ok: false, detail: 'start-up recovery of open migration journals is running' }
      : { name: 'recovery', ok: true, detail: recovered },
  );
  checks.push(replica);
  if (s.stopping()) checks.push({ name: 'stopping', ok: false, detail: 'shutting down: finishing the calls in flight' });
  return checks;
}
