/**
 * @module util/log
 * Structured JSON logs, one object per line on stdout, each carrying the request id of the
 * HTTP request that caused it (propagated with AsyncLocalStorage), so an operator can follow
 * `X-OpenStack-Request-ID` from nova-compute through the sidecar.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export type Level = 'debug' | 'info' | 'warning' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warning: 30, error: 40 };

export const requestContext = new AsyncLocalStorage<{ requestId: string }>();

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warning(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  level?: Level;
  host?: string;
  /** Where lines go (default: process.stdout). */
  sink?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const sink = opts.sink ?? ((l: string) => process.stdout.write(l + '\n'));
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const rid = requestContext.getStore()?.requestId;
    sink(JSON.stringify({ ts: new Date().toISOString(), level, host: opts.host, request_id: rid, msg, ...fields }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warning: (m, f) => emit('warning', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** A logger that keeps lines in memory (tests). */
export function memoryLogger(): Logger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const l = createLogger({ level: 'debug', sink: (s) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  return Object.assign(l, { lines });
}
