import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources, not the build, so `npm test` never depends on a stale dist/.
    alias: [
      { find: /^umdkit$/, replacement: here('./src/index.ts') },
      { find: /^umdkit\/handler$/, replacement: here('./src/handler/index.ts') },
      { find: /^umdkit\/testing$/, replacement: here('./src/testing/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
