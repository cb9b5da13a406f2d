/**
 * Unit and integration tests, transpiled only (tsconfig's isolatedModules; `tsc --noEmit` does the
 * type-checking). Integration tests need the registry and oracle tools that scripts/test.sh
 * installs; the test command sets LADING_TEST_TOOLS=1 once they are there.
 */
export default {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  resolver: 'ts-jest-resolver',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true }]
  },
  testTimeout: 120000,
  maxWorkers: 2
}
