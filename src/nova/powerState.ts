/**
 * @module nova/powerState
 * Nova's power-state codes (`nova/compute/power_state.py`): what `get_info` reports and what
 * the compute manager's power-state sync compares. Both backends translate their own states
 * into these; nothing else is a power state in the sidecar.
 */
export const PowerState = {
  NOSTATE: 0,
  RUNNING: 1,
  PAUSED: 3,
  SHUTDOWN: 4,
  CRASHED: 6,
  SUSPENDED: 7,
} as const;
export type PowerStateCode = (typeof PowerState)[keyof typeof PowerState];

/** Nova's names for the codes (`power_state.STATE_MAP`): the one spelling every message uses. */
const NAMES: Readonly<Record<number, string>> = { 0: 'pending', 1: 'running', 3: 'paused', 4: 'shutdown', 6: 'crashed', 7: 'suspended' };

/** `running`, `shutdown`, ... as Nova writes them; an unknown code as `state <n>`. */
export function powerStateName(code: number | null | undefined): string {
  return NAMES[code ?? PowerState.NOSTATE] ?? `state ${String(code)}`;
}
