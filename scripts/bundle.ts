/**
 * The shipped build: esbuild bundles the runtime (the `sdr` CLI, the daemon entry and the job worker's
 * entry) and the reference cloud into `<outDir>/dist`, minified, one chunk graph per program, and copies
 * into `<outDir>/node_modules` only the packages left external and what they depend on. Idle, the
 * runtime then holds a few module records and minified source text instead of ~840 files' (issue 10:
 * idle RSS ≤ 80 MB; bench/README.md has the numbers).
 *
 *   tsx scripts/bundle.ts [outDir]        (default: build/; the Dockerfile's build stage runs it)
 *
 * Left external, loaded from node_modules at run time:
 * - SDKs and drivers only an adapter, a secret provider or a delivery target loads, and only when a
 *   connection or job needs it: bundling them saves nothing at idle, and some read files beside their
 *   code (google-gax and grpc load .proto/.json files by path; @platformatic/kafka requires its native
 *   CRC32 through createRequire);
 * - native or optional addons (msgpackr-extract, pg-native, @node-rs/*).
 * Everything else (bullmq with its Lua scripts, which it ships as JavaScript strings; ioredis; pino, used
 * without transports, so no worker files; zod, yaml, ws, undici, fastify for the cloud) is bundled.
 */
import { buildSync, type Metafile } from 'esbuild';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Package name patterns kept out of the bundle (see above). */
export const EXTERNAL_PACKAGES: readonly string[] = [
  '@aws-sdk/*',
  '@smithy/*',
  '@azure/*',
  '@google-cloud/*',
  'google-auth-library',
  'google-gax',
  '@grpc/*',
  '@platformatic/*',
  '@node-rs/*',
  'msgpackr-extract',
  'pg-native',
];

/**
 * Bundled CommonJS packages call `require` for node's built-ins; an ESM bundle has none unless it is
 * made here. `__filename`/`__dirname` are not defined: no bundled package needs them at run time.
 */
const REQUIRE_BANNER =
  "import { createRequire as __sdrCreateRequire } from 'node:module'; const require = __sdrCreateRequire(import.meta.url);";

/** One program: its entries (relative to the repo) all land in `dist/<dir>/` beside their chunks. */
const PROGRAMS: readonly { dir: string; entries: readonly string[] }[] = [
  // The worker's entry is found at run time as `./job-sandbox-worker.js` next to job-sandbox's code: chunks
  // and entries share one directory, and version.ts finds package.json two levels up, as with tsc.
  { dir: 'runtime', entries: ['runtime/cli.ts', 'runtime/main.ts', 'runtime/job-sandbox-worker.ts'] },
  { dir: 'cloud', entries: ['cloud/main.ts'] },
];

const packageName = (specifier: string): string => {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
};

/** Package names the bundle imports at run time (esbuild's metafile marks external imports). */
function externalImports(metafile: Metafile): Set<string> {
  const names = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const imported of output.imports) {
      if (imported.external && !isBuiltin(imported.path)) names.add(packageName(imported.path));
    }
  }
  return names;
}

/** Where node would find `name` from a package at `fromDir` (node_modules of it and every parent, up to the root). */
function resolvePackage(name: string, fromDir: string, root: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dirname(dir) === dir) return undefined;
  }
}

/** The package directories `names` need at run time: each, and its dependencies, transitively. */
function packageClosure(names: Iterable<string>, root: string): Set<string> {
  const found = new Set<string>();
  const visit = (name: string, fromDir: string) => {
    const dir = resolvePackage(name, fromDir, root);
    if (!dir || found.has(dir)) return; // an optional dependency not installed on this platform
    found.add(dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<
      string,
      Record<string, string> | undefined
    >;
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
      for (const dependency of Object.keys(manifest[field] ?? {})) visit(dependency, dir);
    }
  };
  for (const name of names) visit(name, root);
  return found;
}

/** Nothing at run time reads these; they are half of node_modules' bytes. */
const UNSHIPPED = /(\.map|\.d\.[cm]?ts|\.md|(?<!\.d)\.ts)$/;

/**
 * Copies a package's files (hard links where the file system allows: a test build on the same disk costs
 * no copy), without its own node_modules (the closure copies the nested packages it needs) or unshipped files.
 */
function copyPackage(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') copyPackage(source, target);
    } else if (entry.isFile() && !UNSHIPPED.test(entry.name)) {
      try {
        linkSync(source, target);
      } catch {
        copyFileSync(source, target);
      }
    }
  }
}

/** Bundles the sources under `sourceDir` into `outDir/dist` and copies the external packages to `outDir/node_modules`. */
export function bundleInto(sourceDir: string, outDir: string): { externals: string[] } {
  rmSync(join(outDir, 'dist'), { recursive: true, force: true });
  const externals = new Set<string>();
  for (const program of PROGRAMS) {
    const result = buildSync({
      absWorkingDir: sourceDir,
      entryPoints: program.entries.map((entry) => join(sourceDir, entry)),
      outdir: join(outDir, 'dist', program.dir),
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      // Identifiers minified too, without keepNames: its __name() calls cost ~2.5 MB at idle (79.0 against
      // 81.6 MB, bench/README.md). Error codes and messages are strings and unchanged; only a class's name
      // in a stack trace or in a log line's `err.type` is minified. Nothing here compares constructor names
      // without an instanceof beside it (bullmq's error checks, ioredis' Cluster check).
      minify: true,
      legalComments: 'external',
      external: [...EXTERNAL_PACKAGES],
      banner: { js: REQUIRE_BANNER },
      metafile: true,
      logLevel: 'error',
    });
    for (const name of externalImports(result.metafile)) externals.add(name);
  }
  const modulesDir = join(outDir, 'node_modules');
  rmSync(modulesDir, { recursive: true, force: true });
  for (const dir of packageClosure(externals, sourceDir)) {
    copyPackage(dir, join(modulesDir, relative(join(sourceDir, 'node_modules'), dir)));
  }
  return { externals: [...externals].sort() };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outDir = process.argv[2] ?? join(repoRoot, 'build');
  const { externals } = bundleInto(repoRoot, outDir);
  console.log(`bundled into ${join(outDir, 'dist')}; external packages: ${externals.join(', ')}`);
}
