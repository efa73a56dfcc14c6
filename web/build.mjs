// Bundles the viewer into dist/ (served by api/publico/visor.py). `npm run build`.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist");
await esbuild.build({
  entryPoints: { app: "src/main.js", estilo: "src/estilo.css" },
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "esm",
  target: ["es2020"],
  outdir: "dist",
  loader: { ".png": "file", ".svg": "file" },
  logLevel: "warning",
});
copyFileSync("src/index.html", "dist/index.html");
console.log("Visor construido en web/dist/");
