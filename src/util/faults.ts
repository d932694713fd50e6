/**
 * @module util/faults
 * Fault injection for the crash tests: when `[debug] crash_points` names a step, the process
 * kills itself with SIGKILL right there, exactly as an operator's `kill -9` or a host crash
 * would. Off unless configured. The driver's flows and the embedded backend's hand-over share
 * one instance.
 */
import type { Logger } from './log';

export class FaultPoints {
  private readonly armed: ReadonlySet<string>;
  constructor(
    points: readonly string[],
    private readonly log: Logger,
  ) {
    this.armed = new Set(points);
  }

  /** SIGKILL this process when `step` is armed; nothing otherwise. */
  hit(step: string): void {
    if (!this.armed.has(step)) return;
    this.log.warning('crash point reached, killing the process', { step });
    process.kill(process.pid, 'SIGKILL');
  }
}
