// Lint rules for capsa's TypeScript: typescript-eslint's recommended set, the
// promise rules that catch lost errors, and the layering rule (the library never
// imports the CLI). `npm run lint` runs it; CI runs it before the suite.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['build/**', 'dist/**', 'node_modules/**', 'native/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Lazy require() is deliberate: a CLI verb loads only the modules it needs (start-up time, docs/speed.md).
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // Tests look into decoded messages and parsed JSON whose shape is the point of the test.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The library is usable without the CLI: nothing under src/ but src/cli may import it.
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/cli', '**/cli/*', '**/cli/**'], message: 'the library must not import the CLI (src/cli)' }] }],
    },
  },
);
