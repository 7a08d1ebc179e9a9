import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compiledBuild, compiledCloud, compiledRuntime } from '../../scripts/compiled-build.js';

/**
 * Integration and fault tests run the runtime, its CLI and the reference cloud compiled, as the container
 * image does: under tsx every process start and every job's worker pays for transpiling, which cost the
 * integration suite about half its CPU and the fault suite's dozens of restarts far more. The bundle is
 * built from the working tree at every run, so it always tests the current sources.
 * SDR_TEST_RUNTIME=tsx runs the sources through tsx instead.
 */
export default function compileEntries(): (() => void) | undefined {
  if (process.env.SDR_TEST_RUNTIME === 'tsx') return undefined;
  const build = compiledBuild();
  const runtime = compiledRuntime();
  process.env.SDR_TEST_BUILD_DIR = build;
  process.env.SDR_TEST_RUNTIME_ENTRY = runtime;
  process.env.SDR_TEST_CLI_ENTRY = join(dirname(runtime), 'cli.js');
  process.env.SDR_TEST_CLOUD_ENTRY = compiledCloud();
  // V8's code cache for the bundle, shared by every process the suite starts (childProcessEnv passes it
  // on): a runtime start then skips most of its ~0.1 s of compiling. Node writes it; it goes with the build.
  process.env.NODE_COMPILE_CACHE = join(build, '.compile-cache');
  return () => rmSync(build, { recursive: true, force: true });
}
