// Builds the page into dist/, the files the devstack compiles into its binary
// (devstack/src/web/mod.rs lists them): index.html, app.js (src/main.ts and the SDK's sources,
// bundled) and app.css. `--check` builds in memory and fails when dist/ differs, so CI catches
// a page changed without its committed bundle.
import { existsSync } from 'node:fs';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const check = process.argv.includes('--check');

/**
 * TypeScript sources import each other as `./x.js`. esbuild takes an `x.js` that exists over
 * `x.ts`, so a stray compiled file beside a source (a `tsc` run without outDir) would end up in
 * the bundle instead of the source, and dist/ would differ between machines: such imports
 * resolve to the `.ts` whenever there is one.
 */
const sourcesFirst = {
  name: 'sources-first',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
      if (!args.importer.endsWith('.ts')) return undefined;
      const source = join(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
      return existsSync(source) ? { path: source } : undefined;
    });
  },
};

async function bundle() {
  const result = await esbuild.build({
    entryPoints: [join(here, 'src/main.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    // Not minified: the page is also an example of using the SDK, read in the browser's tools.
    minify: false,
    legalComments: 'none',
    charset: 'utf8',
    write: false,
    logLevel: 'warning',
    // No absolute paths in the output, so the bundle is the same on every machine.
    absWorkingDir: here,
    plugins: [sourcesFirst],
  });
  const [js] = result.outputFiles;
  return js.text;
}

async function outputs() {
  return {
    'index.html': await readFile(join(here, 'src/index.html'), 'utf8'),
    'app.js': await bundle(),
    'app.css': await readFile(join(here, 'src/app.css'), 'utf8'),
  };
}

const files = await outputs();
if (check) {
  const stale = [];
  for (const [name, text] of Object.entries(files)) {
    const current = await readFile(join(dist, name), 'utf8').catch(() => null);
    if (current !== text) stale.push(name);
  }
  if (stale.length > 0) {
    console.error(`clients/web/dist is stale (${stale.join(', ')}): run \`npm run build\` in clients/web and commit dist/`);
    process.exit(1);
  }
  console.log('clients/web/dist is up to date');
} else {
  await mkdir(dist, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dist, name), text);
  console.log(`built ${Object.keys(files).map((f) => `dist/${f}`).join(', ')}`);
}
