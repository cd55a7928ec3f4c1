/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// The page is served by `loupe serve` from the root of its HTTP server, under a CSP of
// default-src 'self': every script and style is a separate file, nothing is inlined.
export default defineConfig({
  base: '/',
  build: {
    outDir: process.env.LOUPE_WEB_OUT || 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
