/**
 * @module config/optionTypes
 * The shape of an option table (`OptDef`) and the types inferred from one: an option's value
 * type (`OptValue`), a section's and a whole file's (`SectionsOf`). The tables themselves are in
 * config/schema (the `[DEFAULT]`... options) and config/sectionTables (the repeatable sections).
 */
export type OptType = 'string' | 'int' | 'bool' | 'list' | 'dict' | 'octal';

export interface OptDef {
  section: string;
  key: string;
  type: OptType;
  default: string | number | boolean | readonly string[] | Readonly<Record<string, string>>;
  help: string;
  /** Allowed values for string options. */
  choices?: readonly string[];
  related?: readonly string[];
  min?: number;
  max?: number;
  /**
   * Applied by a reload (SIGHUP) while the sidecar runs. Every other option keeps its value
   * until a restart (listen address, directories, backend, identity): a reload that changes
   * one logs it and keeps the running value.
   */
  mutable?: boolean;
  /** Shown in the sample config instead of the runtime default (e.g. the host name). */
  sampleDefault?: string;
  secret?: boolean;
}

/** The value an option of type `T` holds once converted (a string option with `choices`: one of them). */
export type OptValue<D extends OptDef> = D extends { type: 'string'; choices: readonly string[] }
  ? NonNullable<D['choices']>[number]
  : D['type'] extends 'string'
    ? string
    : D['type'] extends 'int' | 'octal'
      ? number
      : D['type'] extends 'bool'
        ? boolean
        : D['type'] extends 'list'
          ? string[]
          : Record<string, string>;

/** A table as callers read it: each entry its literal type and every optional field of `OptDef`. */
export type Table<T extends readonly OptDef[]> = readonly (T[number] & OptDef)[];

/** One section's values, keyed as the table declares them. */
export type SectionOf<Defs extends readonly OptDef[], S extends string = Defs[number]['section']> = {
  [D in Extract<Defs[number], { section: S }> as D['key']]: OptValue<D>;
};

/** Every section of a table, each with its values: the type a config is, inferred from the table. */
export type SectionsOf<Defs extends readonly OptDef[]> = { [S in Defs[number]['section']]: SectionOf<Defs, S> };
