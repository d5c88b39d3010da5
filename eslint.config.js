// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const DEVKIT_MESSAGE = '@oftsr/devkit is the development harness: shipped code must not import it.';

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '.tools/**', '.venv/**', 'training/**', '**/dist/**', 'coverage/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: { globals: { ...globals.es2022 } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tooling files run under Node; shared source must stay runtime-free and gets no Node globals.
    files: ['*.js', '*.ts', 'bin/**/*.js', 'apps/*/bin/**/*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    // Tests index typed arrays they just sized; `!` there is clearer than a guard per access.
    files: ['**/*.test.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // packages/shared may import zod only: keep Node, DOM and Workers out of it.
    files: ['packages/shared/src/**/*.ts'],
    ignores: ['packages/shared/src/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^node:', message: '@oftsr/shared must stay runtime-free.' },
            { regex: '^@oftsr/devkit', message: DEVKIT_MESSAGE },
          ],
        },
      ],
    },
  },
  {
    // The harness is dev-only: the edge Worker's, the runner's and the SDK's shipped sources never
    // import it; their tests and testing/ helpers may.
    files: ['apps/*/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'apps/*/src/**/testing/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^@oftsr/devkit', message: DEVKIT_MESSAGE }] },
      ],
    },
  },
);
