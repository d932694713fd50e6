/**
 * @module driver/faults
 * Fault injection for the crash tests: when `[debug] crash_points` names a step, the process
 * kills itself with SIGKILL right there, exactly as an operator's `kill -9` or a host crash
 * would. Off unless configured.
 */
import type { DriverCore } from './core';

export function crashPoint(core: DriverCore, step: string): void {
  if (core.deps.config.debug.crash_points.includes(step)) {
    core.deps.log.warning('crash point reached, killing the process', { step });
    process.kill(process.pid, 'SIGKILL');
  }
}
