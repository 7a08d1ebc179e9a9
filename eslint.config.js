// @ts-check
import js from '@eslint/js';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const runtimeInternals = {
  group: ['**/runtime/**', '../runtime/*', '../../runtime/*'],
  message: 'adapters and secret providers implement an interface; they never import runtime internals',
};
const cloudInternals = {
  group: ['**/cloud/**', '../cloud/*', '../../cloud/*'],
  message: 'only tests, bench and scripts may import the reference cloud',
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'bench/results/**', '.sdr/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/only-throw-error': 'error',
      // Cycles are ours to avoid; walking into dependencies makes the legacy resolver load files such as
      // util-deprecate/node.js as if they were resolvers, and finds nothing we could fix.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'no-console': 'error',
    },
  },
  {
    files: ['protocol/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../*', '!../protocol/*'], message: 'protocol/ imports nothing of ours' }] },
      ],
    },
  },
  {
    // Helpers every layer may import (abort, secret scrubbing, zod-issue formatting), so they import
    // nothing of ours but protocol/.
    files: ['common/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['../*', '!../protocol/*'], message: 'common/ imports nothing of ours but protocol/' },
          ],
        },
      ],
    },
  },
  {
    files: ['adapters/**', 'secrets/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [runtimeInternals, cloudInternals] }] },
  },
  {
    // One adapter never reaches into another: what they share lives in adapters/shared (issue 15).
    files: ['adapters/*/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            runtimeInternals,
            cloudInternals,
            {
              group: ['../*/**', '!../shared/**', '!../../**'],
              message: 'an adapter never imports another adapter; share code through adapters/shared',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['storage/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            runtimeInternals,
            cloudInternals,
            {
              group: ['**/adapters/**', '**/secrets/**'],
              message: 'storage clients get resolved credentials',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['runtime/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [cloudInternals] }] },
  },
  {
    files: ['cloud/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/runtime/**', '../runtime/*'],
              message: 'the cloud speaks to the runtime only through protocol/',
            },
            {
              group: ['**/adapters/**', '**/secrets/**'],
              message: 'the cloud never touches sources or secrets',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['tests/**', 'bench/**', 'scripts/**', '*.config.ts', '*.config.js'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
