/**
 * api/context: the driver a route calls is the one made for its request, keyed by the
 * request id the request-id middleware left in `res.locals`.
 */
import { strict as assert } from 'node:assert';
import type { Response } from 'express';
import { requestDriver } from '../../../src/api/context';
import type { RequestDrivers, ServedDriver } from '../../../src/driver/services';

describe('api/context', () => {
  const asked: string[] = [];
  const made = new Map<string, ServedDriver>();
  const root: RequestDrivers = {
    forRequest(id: string): ServedDriver {
      asked.push(id);
      const d = { id } as unknown as ServedDriver;
      made.set(id, d);
      return d;
    },
  };
  const res = (locals: Record<string, unknown>) => ({ locals }) as unknown as Response;
  beforeEach(() => {
    asked.length = 0;
    made.clear();
  });

  it('asks the root driver for the driver of the request id', () => {
    const driverOf = requestDriver(root);
    const d = driverOf(res({ requestId: 'req-7f1c' }));
    assert.deepEqual(asked, ['req-7f1c']);
    assert.equal(d, made.get('req-7f1c'));
  });

  it('each request gets its own', () => {
    const driverOf = requestDriver(root);
    driverOf(res({ requestId: 'req-a' }));
    driverOf(res({ requestId: 'req-b' }));
    assert.deepEqual(asked, ['req-a', 'req-b']);
  });

  it('asks with the empty id when no request id was set', () => {
    requestDriver(root)(res({}));
    assert.deepEqual(asked, ['']);
  });
});
