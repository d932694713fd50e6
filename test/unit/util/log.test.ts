/**
 * util/log: one JSON object per line, below-level lines dropped, children adding the request
 * id to every line and sharing their parent's output and level.
 */
import { strict as assert } from 'node:assert';
import { createLogger, memoryLogger, type Level } from '../../../src/util/log';

function capture(level?: Level, host?: string) {
  const lines: string[] = [];
  const log = createLogger({ level, host, sink: (l) => lines.push(l) });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('util/log', () => {
  it('writes one JSON object per line with time, level, host, message and fields', () => {
    const { log, lines, parsed } = capture('debug', 'compute-1');
    log.info('spawned', { instance_uuid: 'u1', ms: 12 });
    assert.equal(lines.length, 1);
    assert.ok(!lines[0].includes('\n'));
    const [l] = parsed();
    assert.match(String(l.ts), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual({ ...l, ts: 'T' }, { ts: 'T', level: 'info', host: 'compute-1', msg: 'spawned', instance_uuid: 'u1', ms: 12 });
  });

  it('defaults to info: debug lines are dropped, the others kept', () => {
    const { log, parsed } = capture();
    log.debug('d');
    log.info('i');
    log.warning('w');
    log.error('e');
    assert.deepEqual(
      parsed().map((l) => [l.level, l.msg]),
      [
        ['info', 'i'],
        ['warning', 'w'],
        ['error', 'e'],
      ],
    );
  });

  it('at level error only error lines are written', () => {
    const { log, parsed } = capture('error');
    log.info('i');
    log.warning('w');
    log.error('e');
    assert.deepEqual(
      parsed().map((l) => l.msg),
      ['e'],
    );
  });

  it('a child carries the request id on every line, to the same output; the parent does not', () => {
    const { log, parsed } = capture();
    const child = log.child({ request_id: 'req-1' });
    child.info('in request');
    log.info('outside');
    const [a, b] = parsed();
    assert.equal(a.request_id, 'req-1');
    assert.equal('request_id' in b, false, 'undefined fields are left out of the JSON');
  });

  it("a grandchild keeps the parent's request id unless it sets its own", () => {
    const { log, parsed } = capture();
    const c = log.child({ request_id: 'req-a' });
    c.child({}).info('x');
    c.child({ request_id: 'req-b' }).info('y');
    assert.deepEqual(
      parsed().map((l) => l.request_id),
      ['req-a', 'req-b'],
    );
  });

  it('setLevel on a child changes the level of the whole family (reload of [DEFAULT] debug)', () => {
    const { log, parsed } = capture('info');
    const child = log.child({ request_id: 'r' });
    child.setLevel('debug');
    log.debug('root debug');
    child.debug('child debug');
    assert.deepEqual(
      parsed().map((l) => l.msg),
      ['root debug', 'child debug'],
    );
    log.setLevel('warning');
    child.info('dropped');
    assert.equal(parsed().length, 2);
  });

  it("a field named like a built-in one wins over it (the caller's words are kept)", () => {
    const { log, parsed } = capture();
    log.info('m', { host: 'other' });
    assert.equal(parsed()[0].host, 'other');
  });

  it('memoryLogger keeps parsed lines at debug level, its children included', () => {
    const m = memoryLogger();
    m.debug('a');
    m.child({ request_id: 'r9' }).warning('b', { k: 1 });
    assert.deepEqual(
      m.lines.map((l) => [l.level, l.msg, l.request_id]),
      [
        ['debug', 'a', undefined],
        ['warning', 'b', 'r9'],
      ],
    );
    assert.equal(m.lines[1].k, 1);
  });
});
