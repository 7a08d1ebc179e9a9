/**
 * The product built as the container image ships it (scripts/bundle.ts: the esbuild bundle in a temp dir
 * with package.json and only the external packages' node_modules beside it), built once per process.
 * Benchmarks measure it; the fault suite runs its runtime and cloud processes from it, which spares every
 * process and every job's worker tsx's start-up, and proves the bundle with every package it leaves
 * external. `compileInto` is the plain tsc output, which bench:startup measures beside it.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleInto } from './bundle.js';

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

/** The tsc output of the sources under `sourceDir` in a temp dir, node_modules linked; returns its runtime entry. */
export function compiledWithTsc(sourceDir: string = repoRoot): string {
  const outDir = mkdtempSync(join(tmpdir(), 'sdr-tsc-build-'));
  compileInto(sourceDir, outDir);
  copyFileSync(join(repoRoot, 'package.json'), join(outDir, 'package.json'));
  symlinkSync(join(repoRoot, 'node_modules'), join(outDir, 'node_modules'));
  return join(outDir, 'dist/runtime/main.js');
}

/** Bundles once; returns the directory holding `dist/`. */
export function compiledBuild(): string {
  if (buildDir) return buildDir;
  const outDir = mkdtempSync(join(tmpdir(), 'sdr-build-'));
  bundleInto(repoRoot, outDir);
  copyFileSync(join(repoRoot, 'package.json'), join(outDir, 'package.json'));
  buildDir = outDir;
  return outDir;
}

/** The bundled runtime's entry (`dist/runtime/main.js`). */
export function compiledRuntime(): string {
  return join(compiledBuild(), 'dist/runtime/main.js');
}

/** The bundled reference cloud's entry (`dist/cloud/main.js`). */
export function compiledCloud(): string {
  return join(compiledBuild(), 'dist/cloud/main.js');
}
