/**
 * @module util/log
 * Structured JSON logs, one object per line on stdout. A line written while serving an HTTP
 * request carries that request's id, so an operator can follow `X-OpenStack-Request-ID` from
 * nova-compute through the sidecar: the API gives each request a child logger
 * (`log.child({ request_id })`, through `ShimDriver.forRequest`, which builds a driver over
 * the same state holding that logger) instead of an implicit async context
 * (`AsyncLocalStorage`), which in Node 20 would put a hook on every promise the sidecar
 * makes. The context is an explicit value: work a request starts in the background (a fleet
 * rotation) keeps the request's logger to its last line.
 */
export type Level = 'debug' | 'info' | 'warning' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warning: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warning(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger writing to the same place whose lines carry `context.request_id`. */
  child(context: LogContext): Logger;
  /** Change the level of this logger and every logger sharing its output (reload of `[DEFAULT] debug`). */
  setLevel(level: Level): void;
}

export interface LogContext {
  request_id?: string;
}

export interface LoggerOptions {
  level?: Level;
  host?: string;
  /** Where lines go (default: process.stdout). */
  sink?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return new JsonLogger({ min: ORDER[opts.level ?? 'info'], host: opts.host, sink: opts.sink ?? ((l: string) => process.stdout.write(l + '\n')) }, {});
}

/** A class, not closures: a child per request costs one small object. */
class JsonLogger implements Logger {
  constructor(
    private readonly out: { min: number; host?: string; sink: (line: string) => void },
    private readonly context: LogContext,
  ) {}

  private emit(level: Level, msg: string, fields?: Record<string, unknown>): void {
    if (ORDER[level] < this.out.min) return;
    this.out.sink(JSON.stringify({ ts: new Date().toISOString(), level, host: this.out.host, request_id: this.context.request_id, msg, ...fields }));
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.emit('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.emit('info', msg, fields);
  }
  warning(msg: string, fields?: Record<string, unknown>): void {
    this.emit('warning', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.emit('error', msg, fields);
  }
  child(context: LogContext): Logger {
    return new JsonLogger(this.out, { ...this.context, ...context });
  }
  setLevel(level: Level): void {
    this.out.min = ORDER[level];
  }
}

/** A logger that keeps lines in memory (tests); its children write to the same lines. */
export function memoryLogger(): Logger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const l = createLogger({ level: 'debug', sink: (s) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  return Object.assign(l, { lines });
}
