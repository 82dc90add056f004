// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import structure from './eslint-rules/index.js';

/** Production code must not reach into local/, bench/ or test/. */
const PRODUCTION_ONLY = {
  group: ['**/local/**', '**/bench/**', '**/test/**'],
  message: 'functions/, shared/ and agent/ must not import local/, bench/ or test/.',
};

/**
 * Imports into another shared/ folder allowed to skip its index.ts: only the agent's first import,
 * which refuses an unsupported Node.js before any other module loads.
 */
const KNOWN_BYPASSES = ['agent -> shared/runtime/require-supported-node.ts'];

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
    plugins: { structure },
    rules: {
      'no-restricted-imports': ['error', { patterns: [PRODUCTION_ONLY] }],
      'structure/no-cycle': 'error',
      'structure/through-index': ['error', { allow: KNOWN_BYPASSES }],
    },
  },
  {
    // The bottom floor: the domain vocabulary imports nothing else of the repository.
    files: ['shared/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            PRODUCTION_ONLY,
            {
              regex: '^\\.\\./',
              message: 'shared/domain/ is the bottom floor: it imports nothing above it.',
            },
          ],
        },
      ],
    },
  },
  {
    // Errors sit just above it: they import the domain and nothing else.
    files: ['shared/errors/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            PRODUCTION_ONLY,
            {
              regex: '^\\.\\./(?!domain/index\\.js$)',
              message: 'shared/errors/ imports only shared/domain/ (through its index.js).',
            },
          ],
        },
      ],
    },
  },
);
