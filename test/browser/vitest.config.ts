/**
 * `npm run test:browser`: the tests that need a browser (Debian's chromium, driven by
 * playwright-core). Kept out of `npm test` (whose include is test/**\/*.test.ts): these
 * files end in .browser.ts. .ci/run installs chromium when /usr/bin/chromium is missing.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  resolve: { alias: { kwq: fileURLToPath(new URL('../../src/index.ts', import.meta.url)) } },
  test: {
    include: ['test/browser/**/*.browser.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
