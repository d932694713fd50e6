// ESLint (flat config), run by `npm run lint` with --max-warnings 0: typescript-eslint's
// type-aware recommended rules for the TypeScript (src/, test/, bench/, tempest-compat/,
// scripts/, all in tsconfig.json), ESLint's recommended rules for the few JavaScript files.
// Layout is Prettier's business (`prettier --check` in the same script), not ESLint's.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // generated.ts: openapi-typescript's output, compared byte for byte by `npm run check:types`.
    ignores: ['dist/', 'node_modules/', '**/generated.ts', '.tempest-run/', '.scratch/'],
  },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `_name` marks a parameter a signature needs but the body does not use (an interface
      // method, an express handler's `next`); everything else unused is an error.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // `{}` is `unknown` narrowed to "not null/undefined": ini and JSON input quoted in a message
      // with String(v) on purpose. Known object types (a query-string object, an XML node) still count.
      '@typescript-eslint/no-base-to-string': ['error', { ignoredTypeNames: ['Error', 'RegExp', 'URL', 'URLSearchParams', '{}'] }],
    },
  },
  {
    // Tests, the bench and tempest-compat read JSON answers (axios' `any`, JSON.parse) and
    // check them with assertions; typing each answer first would add casts, not safety.
    // An async function without `await` there is a fake or a table entry standing in for an
    // async one: it must reject, not throw, so it stays async.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'tempest-compat/**/*.ts'],
    rules: {
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.{js,mjs,cjs}', 'bin/nova-uefi-shim'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['**/*.cjs', 'bin/nova-uefi-shim'],
    languageOptions: { sourceType: 'commonjs' },
  },
);
