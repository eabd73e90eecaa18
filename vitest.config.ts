import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/build.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Model and Redis tests compete for 2 cores; run files one at a time so timings stay sane.
    fileParallelism: false,
    pool: 'forks',
  },
});
