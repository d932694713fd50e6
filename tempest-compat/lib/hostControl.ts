/**
 * @module tempest-compat/lib/hostControl
 * What a test may do to a compute host beyond the API when
 * `[compute-feature-enabled] firmware_reconfiguration` is set: restart its sidecar with
 * changed configuration, and hide/restore firmware files. Provided by the runner for the
 * sidecars it starts; a deployment named in a conf has none, so the flag must stay False there.
 */
export interface HostControl {
  /** Restart the sidecar of `host` with these INI overrides on top of its base config ({} = base). */
  restart(host: string, overrides: Record<string, Record<string, string>>): Promise<void>;
  /** Move a firmware file out of the way; returns a function that puts it back. */
  hideFile(path: string): Promise<() => Promise<void>>;
}

let control: HostControl | null = null;

export function setHostControl(c: HostControl | null): void {
  control = c;
}

export function getHostControl(): HostControl {
  if (!control) {
    throw new Error('[compute-feature-enabled] firmware_reconfiguration is True but the sidecars were not started by this runner (no host control)');
  }
  return control;
}
