/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// `npm run dev` serves the app on :5173 and forwards the API to a server on :8080
// (`cargo run --release -- serve`); in production the server itself serves `dist/`.
const api = process.env.LIVESURGERY_DEV_API ?? "http://127.0.0.1:8080";
// Source maps ship only when asked for (debugging): they hand out the app's whole source, and the
// server answers 404 for them anyway unless LIVESURGERY_WEB_SOURCE_MAPS=true.
const sourceMaps = ["1", "true"].includes(process.env.LIVESURGERY_WEB_SOURCE_MAPS ?? "");

export default defineConfig({
  plugins: [react(), tailwindcss()],
  server: {
    proxy: {
      "/v1": { target: api, ws: true },
      "/healthz": api,
      "/readyz": api,
      "/metrics": api,
    },
  },
  build: {
    outDir: "dist",
    sourcemap: sourceMaps,
    chunkSizeWarningLimit: 1024,
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
