#!/usr/bin/env node
// `npm run build` (also run by `npm ci` through `prepare`): compile with tsc into a fresh dist/,
// then embed the sample UMD's handler images, as the kernel's build embeds sample_umh in the
// Loader module:
//   dist/examples/sample-umd/sample.driver.mjs   examples/sample-umd/handler.ts, a node image
//   dist/examples/c-handler/sample.driver.mjs    examples/c-handler/sample_handler.c, an exec image
// The C image needs a C compiler (`cc`, or $CC); without one it is skipped with a note, and the
// reason is kept in dist/examples/c-handler/NOT-BUILT.txt for `umdkit demo --handler c` to show.
// No source maps (tsconfig.build.json): the package ships dist/, not src/, so maps would point at
// files that are not there.
// Plain ESM, no dependencies but the ones the package already has. Leaves no temporary file.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const at = (...parts) => join(root, ...parts);
const say = (line) => process.stdout.write(`build: ${line}\n`);
const NOT_SHIPPED = 'the C handler image (a static binary of about 1 MB) is not shipped in the npm package; in a checkout of umdkit with a C compiler, `npm run build` builds it, or pack your own with `umdkit pack --kind exec`';

try {
  await build();
} catch (err) {
  process.stderr.write(`build: ${err.message}\n`);
  process.exitCode = 1;
}

async function build() {
  // 1. A fresh dist/: nothing stale from an older layout survives.
  rmSync(dist, { recursive: true, force: true });

  // 2. TypeScript, found through the package so the build works without node_modules/.bin on PATH.
  const require = createRequire(import.meta.url);
  const typescript = require.resolve('typescript/package.json');
  const tsc = join(dirname(typescript), require(typescript).bin.tsc);
  const compiled = spawnSync(process.execPath, [tsc, '-p', at('tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
  if (compiled.status !== 0) throw new Error(`tsc failed (exit ${compiled.status ?? compiled.signal})`);

  // 3. The node image of the sample handler, packed by the pack that was just built.
  const { pack } = await import(pathToFileURL(join(dist, 'src', 'loader', 'pack.js')).href);
  const nodeOut = join(dist, 'examples', 'sample-umd', 'sample.driver.mjs');
  mkdirSync(dirname(nodeOut), { recursive: true });
  const node = await pack({ entry: at('examples', 'sample-umd', 'handler.ts'), name: 'sample', out: nodeOut });
  say(`packed the sample handler: ${relative(root, nodeOut)} (node image, ${node.bytes.length} bytes, sha256 ${node.sha256.slice(0, 16)}…)`);

  // 4. The C handler as an exec image, when there is a compiler.
  const cDir = join(dist, 'examples', 'c-handler');
  const cOut = join(cDir, 'sample.driver.mjs');
  mkdirSync(cDir, { recursive: true });
  const cc = process.env.CC || 'cc';
  const probe = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    const why = `no C compiler was found when \`npm run build\` ran (\`${cc} --version\` failed: ${probe.error?.message ?? `exit ${probe.status}`}); install one (e.g. gcc) and run \`npm run build\` again`;
    writeFileSync(join(cDir, 'NOT-BUILT.txt'), `${why}\n`);
    say(`note: skipped the C handler image: ${why}`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'umdkit-build-'));
  try {
    const binary = join(work, 'sample_handler');
    const sources = ['sample_handler.c', 'cbor.c'].map((file) => at('examples', 'c-handler', file));
    const compile = (extra) => spawnSync(cc, ['-O2', '-std=c11', '-Wall', '-Wextra', ...extra, '-o', binary, ...sources], { encoding: 'utf8' });
    // Static first: a sandboxed handler may read nothing outside its own directory, not even libc.
    let result = compile(['-static']);
    let linkage = 'static';
    if (result.status !== 0) {
      result = compile([]);
      linkage = 'dynamic';
      if (result.status === 0) say('note: no static libc here; the C handler is linked dynamically');
    }
    if (result.status !== 0) throw new Error(`the C handler does not compile:\n${result.stderr}`);
    const exec = await pack({ kind: 'exec', binary, name: 'sample', out: cOut });
    say(`packed the C handler: ${relative(root, cOut)} (exec image, ${linkage}, ${exec.bytes.length} bytes, sha256 ${exec.sha256.slice(0, 16)}…)`);
    // The image (a static binary, ~1 MB) is left out of the npm package (package.json `files`);
    // this note is what `umdkit demo --handler c` shows where the image is missing.
    writeFileSync(join(cDir, 'NOT-BUILT.txt'), `${NOT_SHIPPED}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
