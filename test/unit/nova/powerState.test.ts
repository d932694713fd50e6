/**
 * nova/powerState: the codes and names of nova/compute/power_state.py, one spelling for all.
 */
import { strict as assert } from 'node:assert';
import { PowerState, powerStateName } from '../../../src/nova/powerState';

describe('nova/powerState', () => {
  it("has Nova's codes (power_state.py: NOSTATE 0, RUNNING 1, PAUSED 3, SHUTDOWN 4, CRASHED 6, SUSPENDED 7)", () => {
    assert.deepEqual({ ...PowerState }, { NOSTATE: 0, RUNNING: 1, PAUSED: 3, SHUTDOWN: 4, CRASHED: 6, SUSPENDED: 7 });
  });

  const names: Array<[number | null | undefined, string]> = [
    [PowerState.NOSTATE, 'pending'],
    [PowerState.RUNNING, 'running'],
    [PowerState.PAUSED, 'paused'],
    [PowerState.SHUTDOWN, 'shutdown'],
    [PowerState.CRASHED, 'crashed'],
    [PowerState.SUSPENDED, 'suspended'],
    [null, 'pending'],
    [undefined, 'pending'],
    [2, 'state 2'],
    [5, 'state 5'],
    [-1, 'state -1'],
  ];
  for (const [code, name] of names) it(`names ${String(code)} '${name}'`, () => assert.equal(powerStateName(code), name));
});
