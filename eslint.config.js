// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.local/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    // Production code must not reach into local/, bench/ or test/ (docs/architecture.md).
    files: ['functions/**/*.ts', 'shared/**/*.ts', 'agent/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/local/**', '**/bench/**', '**/test/**'],
              message: 'functions/, shared/ and agent/ must not import local/, bench/ or test/.',
            },
          ],
        },
      ],
    },
  },
);
