import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build goes into the Python package, so `convoflow serve` (and a wheel) carries it.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../src/convoflow/console_dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
  },
  server: { proxy: { "/platform": "http://127.0.0.1:8000" } },
});
