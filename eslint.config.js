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
 * Imports into another shared/ folder that do not go through its index.ts yet. They are the two
 * knots that barrels would turn into cycles (config ↔ azure/telemetry/ratelimit, and tenants ↔
 * rollover ↔ heartbeats ↔ operations); this list only shrinks.
 */
const KNOWN_BYPASSES = [
  'functions -> shared imports: 52, bypassing index.ts: 1',
  'shared->shared cross-folder imports: 127, bypassing index.ts: 26 -> ',
  'shared/config -> shared/ratelimit/limits.ts',
  'shared/config -> shared/telemetry/connection-string.ts',
  'shared/heartbeats -> shared/rollover/rollover-policy.ts',
  'shared/heartbeats -> shared/rollover/rollover-view.ts',
  'shared/heartbeats -> shared/tenants/tenant-registry.ts',
  'shared/operations -> shared/heartbeats/monitor.ts',
  'shared/operations -> shared/tenants/audit.ts',
  'shared/operations -> shared/tenants/tenant-registry.ts',
  'shared/operations -> shared/tenants/writeback-tenants.ts',
  'shared/ratelimit -> shared/azure/clients.ts',
  'shared/ratelimit -> shared/azure/call-dependency.ts',
  'shared/ratelimit -> shared/azure/tables.ts',
  'shared/rollover -> shared/operations/encryption-keys.ts',
  'shared/rollover -> shared/operations/request-senders.ts',
  'shared/rollover -> shared/tenants/audit.ts',
  'shared/rollover -> shared/tenants/queues.ts',
  'shared/rollover -> shared/tenants/tenant-registry.ts',
  'shared/rollover -> shared/tenants/writeback-tenants.ts',
  'shared/telemetry -> shared/config/settings.ts',
  'shared/tenants -> shared/rollover/rollover-policy.ts',
  'shared/tenants -> shared/rollover/rollover-view.ts',
  'agent -> shared/runtime/require-supported-node.ts',
];

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
