/**
 * @module service/reload
 * SIGHUP: read the config file again and put it in force without dropping a request. The new
 * file is validated as a whole (every problem reported at once, as at start-up); an invalid
 * one is refused and the running configuration keeps serving. So is one whose operator
 * firmware map has an error the running map does not have (a missing file, a template that
 * does not fit its code build): a typo must not take away a working map.
 *
 * Options marked `mutable` in the schema take effect at once (firmware map and descriptors,
 * peers, tokens, timeouts, log level); the rest keep their running value until a restart and
 * are named in the log when the file changed them (listen address, directories, backend,
 * host name, libvirt connection). Nova's rules for pinned firmware are untouched: instances
 * keep the firmware they were spawned with, new spawns select from the new map.
 *
 * Deliberately not here: what each module does with the new configuration (`server.ts` hands
 * it to them in one synchronous step, so no call sees half of it).
 */
import { ConfigError, OPTIONS, deepFreeze, loadConfigFile, optionValue, sectionsFrom, type Config } from '../config';
import type { FirmwareInventory, FirmwareProblem } from '../firmware/types';
import type { Logger } from '../util/log';
import type { Metrics } from '../metrics';

export type RestartOnlyChange = {
  option: string;
  running: string;
  file: string;
};

export interface ReloadPlan {
  /** The configuration to put in force: the file's, with restart-only options at their running values. */
  next: Config;
  /** Restart-only options the file changed (kept at the running value). */
  restartOnly: RestartOnlyChange[];
  /** Options (and firmware map sections) whose new value takes effect now. */
  changed: string[];
}

const MASK = '<secret>';

function shown(v: unknown, secret: boolean | undefined): string {
  if (secret) return MASK;
  return Array.isArray(v) ? v.join(',') : v && typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Compare the running configuration with the file's and build what a reload puts in force. */
export function planReload(running: Config, fromFile: Config): ReloadPlan {
  const restartOnly: RestartOnlyChange[] = [];
  const changed: string[] = [];
  const sections = sectionsFrom(OPTIONS, (def) => {
    const was = optionValue(running, def);
    const now = optionValue(fromFile, def);
    if (JSON.stringify(was) === JSON.stringify(now)) return now;
    const option = `[${def.section}] ${def.key}`;
    if (def.mutable) {
      changed.push(option);
      return now;
    }
    restartOnly.push({ option, running: shown(was, def.secret), file: shown(now, def.secret) });
    return was;
  });
  const arches = new Set([...Object.keys(running.firmwareMap), ...Object.keys(fromFile.firmwareMap)]);
  for (const arch of [...arches].sort()) {
    if (JSON.stringify(running.firmwareMap[arch]) !== JSON.stringify(fromFile.firmwareMap[arch])) changed.push(`[firmware:${arch}]`);
  }
  if (JSON.stringify(running.secureBootKeysets) !== JSON.stringify(fromFile.secureBootKeysets)) changed.push('[secure_boot_keyset:*]');
  const next: Config = deepFreeze({
    ...sections,
    firmwareMap: fromFile.firmwareMap,
    secureBootKeysets: fromFile.secureBootKeysets,
    source: fromFile.source,
  });
  return { next, restartOnly, changed };
}

const problemKey = (p: FirmwareProblem) => `${p.source}\n${p.message}`;

/** Errors of the new operator map that the running inventory does not already have. */
export function newMapErrors(now: FirmwareInventory, next: FirmwareInventory): string[] {
  const known = new Set(now.problems.map(problemKey));
  return next.problems
    .filter((p) => p.severity === 'error' && p.source.startsWith('config:') && !known.has(problemKey(p)))
    .map((p) => `${p.source.slice('config:'.length)}: ${p.message}`);
}

/**
 * What a reload prepares from a candidate before anything changes (files read, contexts
 * built): the value `apply` takes, or the problems that refuse the candidate.
 */
export type Prepared<P> = { value: P } | { problems: string[] };

/** What the reloader needs from the running sidecar; `P` is what it prepares for `apply`. */
export interface ReloadTarget<P> {
  log: Logger;
  metrics?: Metrics;
  /** The configuration in force. */
  current(): Config;
  /** The running firmware inventory, and what a configuration's map and descriptors would give. */
  firmwareNow(): FirmwareInventory;
  firmwareFor(config: Config): FirmwareInventory;
  /** Read and check what `next` needs (e.g. TLS files, key sets) without changing anything. */
  prepare(next: Config): Promise<Prepared<P>>;
  /** Put `next` in force with what `prepare` made and the inventory found for it; synchronous, so no call sees half of it. */
  apply(next: Config, inv: FirmwareInventory, prepared: P): void;
}

export type ReloadResult = { ok: true; plan: ReloadPlan } | { ok: false; problems: string[] };

/** Re-read `file` and put it in force, or refuse it as a whole; logs and counts either way. */
export async function reloadConfig<P>(file: string, t: ReloadTarget<P>): Promise<ReloadResult> {
  const refuse = (problems: string[]): ReloadResult => {
    t.log.error('configuration reload refused, the running configuration keeps serving', { config: file, problems });
    t.metrics?.reloads.inc({ outcome: 'failed' });
    t.metrics?.lastReloadSuccessful.set(0);
    return { ok: false, problems };
  };
  let fromFile: Config;
  try {
    fromFile = loadConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigError) return refuse(e.problems);
    throw e;
  }
  const plan = planReload(t.current(), fromFile);
  const inv = t.firmwareFor(plan.next);
  const prepared = await t.prepare(plan.next);
  const problems = [...newMapErrors(t.firmwareNow(), inv), ...('problems' in prepared ? prepared.problems : [])];
  if (problems.length || 'problems' in prepared) return refuse(problems);
  for (const c of plan.restartOnly) {
    t.log.warning('option changed in the file takes effect at restart; the running value is kept', c);
  }
  t.apply(plan.next, inv, prepared.value);
  t.metrics?.reloads.inc({ outcome: 'success' });
  t.metrics?.lastReloadSuccessful.set(1);
  t.log.info('configuration reloaded', { config: file, changed: plan.changed, restart_only: plan.restartOnly.map((c) => c.option) });
  return { ok: true, plan };
}
