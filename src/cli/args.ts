/**
 * @module cli/args
 * A tiny argv parser for subcommands: positionals plus `--flag`, `--opt VALUE` and
 * `--opt=VALUE`, checked against a declared option set. Problems are `UsageError`s (exit 2).
 */

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ArgSpec {
  /** Options that take a value. */
  values?: readonly string[];
  /** Boolean flags. */
  flags?: readonly string[];
  /** Options that take a value and may be given several times (`--db A --db B`). */
  multi?: readonly string[];
}

export interface ParsedArgs {
  positionals: string[];
  values: Map<string, string>;
  flags: Set<string>;
  /** Values of `multi` options, in order (absent: none given). */
  lists: Map<string, string[]>;
}

export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const out: ParsedArgs = { positionals: [], values: new Map(), flags: new Set(), lists: new Map() };
  const values = new Set(spec.values ?? []);
  const flags = new Set(spec.flags ?? []);
  const multi = new Set(spec.multi ?? []);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--') || a === '-') {
      out.positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (flags.has(name)) {
      if (eq >= 0) throw new UsageError(`option --${name} takes no value`);
      out.flags.add(name);
    } else if (values.has(name) || multi.has(name)) {
      let v: string | undefined;
      if (eq >= 0) v = a.slice(eq + 1);
      else if (i + 1 < argv.length) v = argv[++i];
      if (v === undefined) throw new UsageError(`option --${name} needs a value`);
      if (multi.has(name)) {
        out.lists.set(name, [...(out.lists.get(name) ?? []), v]);
        continue;
      }
      if (out.values.has(name)) throw new UsageError(`option --${name} given twice`);
      out.values.set(name, v);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return out;
}

/** The value of a required option. */
export function required(args: ParsedArgs, name: string): string {
  const v = args.values.get(name);
  if (v === undefined) throw new UsageError(`missing --${name}`);
  return v;
}

/** Exactly `names.length` positionals, named in the error. */
export function positionals(args: ParsedArgs, names: readonly string[]): string[] {
  if (args.positionals.length < names.length) throw new UsageError(`missing ${names.slice(args.positionals.length).join(' ')}`);
  if (args.positionals.length > names.length) throw new UsageError(`unexpected argument '${args.positionals[names.length]}'`);
  return args.positionals;
}
