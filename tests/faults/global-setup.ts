import { compiledCloud, compiledRuntime } from '../../scripts/compiled-build.js';

/**
 * The fault suite runs the runtime and the reference cloud compiled, as the container image does: under
 * tsx every process start and every job's worker pays for transpiling, which made the suite's dozens of
 * restarts and hundreds of jobs slow. SDR_FAULTS_RUNTIME=tsx runs the sources instead.
 */
export default function compileForFaults(): void {
  if (process.env.SDR_FAULTS_RUNTIME === 'tsx') return;
  process.env.SDR_TEST_RUNTIME_ENTRY = compiledRuntime();
  process.env.SDR_TEST_CLOUD_ENTRY = compiledCloud();
}
