import { defineConfig } from 'vitest/config';

// Each test file gets its own process: Dawn instances and GPU devices do not share well across worker threads.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
