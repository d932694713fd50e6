/**
 * driver/restore: which destroy is which and which spawn restores, from Nova's instance as the
 * proxy passes it (task_state, vm_state, host). The flows themselves: replica/scheduler.test.ts.
 */
import { strict as assert } from 'node:assert';
import { destroyKind, spawnRestores } from '../../../src/driver/restore';
import type { NovaInstance } from '../../../src/nova/objects';
import type { SpawnArgs } from '../../../src/driver/contract';

const inst = (o: Partial<NovaInstance>): NovaInstance => ({ uuid: '1c7e0e52-8d5b-4c53-a0a6-3f1c2b4d5e6f', id: 1, host: 'compute1', ...o });

describe('driver/restore', () => {
  const destroys: [string, { given: Partial<NovaInstance>; want: ReturnType<typeof destroyKind> }][] = [
    ['shelve-offload: task_state shelving_offloading', { given: { task_state: 'shelving_offloading', vm_state: 'shelved' }, want: 'shelve-offload' }],
    ['a delete: task_state deleting', { given: { task_state: 'deleting' }, want: 'delete' }],
    ['a delete: vm_state deleted', { given: { vm_state: 'deleted' }, want: 'delete' }],
    ["an evacuated instance's source cleaning up: host names another host", { given: { host: 'compute2', task_state: 'deleting' }, want: 'evacuated-source' }],
    ['anything else (revert, rebuild, a proxy that sends no task state)', { given: { task_state: null }, want: 'other' }],
    ['no host at all (never scheduled) with deleting is a delete', { given: { host: null, task_state: 'deleting' }, want: 'delete' }],
  ];
  for (const [name, { given, want }] of destroys) {
    it(`destroy kind: ${name}`, () => assert.equal(destroyKind(inst(given), 'compute1'), want));
  }

  const spawns: [string, { given: Partial<SpawnArgs> & { i?: Partial<NovaInstance> }; want: ReturnType<typeof spawnRestores> }][] = [
    ['evacuate flag', { given: { evacuate: true }, want: 'evacuate' }],
    ['task_state unshelving', { given: { i: { task_state: 'unshelving' } }, want: 'unshelve' }],
    ['vm_state shelved_offloaded', { given: { i: { vm_state: 'shelved_offloaded' } }, want: 'unshelve' }],
    ['a plain spawn', { given: {}, want: null }],
  ];
  for (const [name, { given, want }] of spawns) {
    it(`spawn restores: ${name}`, () => {
      const { i, ...rest } = given;
      assert.equal(spawnRestores({ instance: inst(i ?? {}), image_meta: {}, ...rest }), want);
    });
  }
});
