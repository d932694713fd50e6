/**
 * api/methods: each Nova method name served at POST /v1/instances/{uuid}/{method} reaches the
 * contract method of the same meaning, with the uuid and the arguments untouched, and nothing
 * else counts as a method (inherited names included).
 */
import { strict as assert } from 'node:assert';
import { INSTANCE_METHODS, RESULTS_CONFORM, callInstanceMethod, isInstanceMethod } from '../../../src/api/methods';
import type { ComputeDriver, InstanceMethodName } from '../../../src/driver/contract';

/** Nova's snake_case name → the camelCase contract method (STYLE R2), written out independently. */
const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

/** A driver whose every method records its call and answers with its own name. */
function recordingDriver(): { driver: ComputeDriver; calls: Array<{ name: string; args: unknown[] }> } {
  const calls: Array<{ name: string; args: unknown[] }> = [];
  const driver = new Proxy(
    {},
    {
      get: (_t, name) =>
        typeof name === 'string'
          ? (...args: unknown[]) => {
              calls.push({ name, args });
              return Promise.resolve({ answered_by: name });
            }
          : undefined,
    },
  ) as ComputeDriver;
  return { driver, calls };
}

describe('api/methods', () => {
  const names = Object.keys(INSTANCE_METHODS) as InstanceMethodName[];

  it('serves the instance methods of the Nova flows', () => {
    for (const m of ['spawn', 'destroy', 'reboot', 'rebuild', 'migrate_disk_and_power_off', 'finish_revert_migration', 'live_migration', 'cleanup']) {
      assert.ok(names.includes(m as InstanceMethodName), m);
    }
    assert.deepEqual(Object.keys(RESULTS_CONFORM).sort(), [...names].sort(), 'the conformance table covers every method');
  });

  for (const m of Object.keys(INSTANCE_METHODS) as InstanceMethodName[]) {
    it(`${m} calls driver.${camel(m)}(uuid, args) and answers its result`, async () => {
      const { driver, calls } = recordingDriver();
      const args = { marker: m } as never;
      const result = await callInstanceMethod(driver, m, 'uuid-1', args);
      assert.deepEqual(calls, [{ name: camel(m), args: ['uuid-1', { marker: m }] }]);
      assert.deepEqual(result, { answered_by: camel(m) });
    });
  }

  it('isInstanceMethod knows every method and nothing else, inherited names included', () => {
    for (const m of names) assert.equal(isInstanceMethod(m), true, m);
    for (const n of ['powerOff', 'get_info', 'toString', 'constructor', '__proto__', 'hasOwnProperty', '', 'SPAWN']) {
      assert.equal(isInstanceMethod(n), false, n);
    }
  });
});
