// Bundles each peer worker with esbuild into out/<name>/worker.mjs. Every `.wasm` import stays
// an import (of ./wasm/<file>, copied alongside), which miniflare loads as a CompiledWasm module.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const PEERS = ['jsquash', 'wio'];

export async function buildPeer(name) {
  const outdir = join(HERE, 'out', name);
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(join(outdir, 'wasm'), { recursive: true });
  const wasm = new Map();
  const wasmPlugin = {
    name: 'wasm-modules',
    setup(build) {
      build.onResolve({ filter: /\.wasm$/ }, async (args) => {
        if (args.namespace === 'wasm-modules') return undefined;
        const r = await build.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, namespace: 'wasm-modules' });
        if (r.errors.length) return { errors: r.errors };
        const name = basename(r.path);
        if (wasm.has(name) && wasm.get(name) !== r.path) throw new Error(`two wasm files named ${name}`);
        wasm.set(name, r.path);
        return { path: `./wasm/${name}`, external: true };
      });
    },
  };
  await esbuild.build({
    entryPoints: [join(HERE, 'workers', `${name}.mjs`)],
    outfile: join(outdir, 'worker.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    target: 'es2022',
    logLevel: 'warning',
    plugins: [wasmPlugin],
  });
  for (const [name, path] of wasm) copyFileSync(path, join(outdir, 'wasm', name));
  return { script: join(outdir, 'worker.mjs'), wasm: [...wasm.keys()] };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const p of process.argv.slice(2).length ? process.argv.slice(2) : PEERS) console.log(p, await buildPeer(p));
}
