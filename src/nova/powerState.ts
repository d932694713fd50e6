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
