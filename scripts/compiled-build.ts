/**
 * The product compiled as the container image runs it (tsc -p tsconfig.build.json into a temp dir with
 * package.json and node_modules beside it), built once per process. Benchmarks measure it; the fault
 * suite runs its runtime and cloud processes from it, which spares every process and every job's worker
 * tsx's start-up.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
let buildDir: string | undefined;

/** Compiles the sources under `sourceDir` (tsconfig.build.json) into `outDir/dist`. */
export function compileInto(sourceDir: string, outDir: string): void {
  execFileSync(
    process.execPath,
    [
      join(repoRoot, 'node_modules/typescript/bin/tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      join(outDir, 'dist'),
    ],
    { cwd: sourceDir, stdio: 'inherit' },
  );
}

/** Builds once; returns the directory holding `dist/`. */
export function compiledBuild(): string {
  if (buildDir) return buildDir;
  const outDir = mkdtempSync(join(tmpdir(), 'sdr-build-'));
  compileInto(repoRoot, outDir);
  copyFileSync(join(repoRoot, 'package.json'), join(outDir, 'package.json'));
  symlinkSync(join(repoRoot, 'node_modules'), join(outDir, 'node_modules'));
  buildDir = outDir;
  return outDir;
}

/** The compiled runtime's entry (`dist/runtime/main.js`). */
export function compiledRuntime(): string {
  return join(compiledBuild(), 'dist/runtime/main.js');
}

/** The compiled reference cloud's entry (`dist/cloud/main.js`). */
export function compiledCloud(): string {
  return join(compiledBuild(), 'dist/cloud/main.js');
}
