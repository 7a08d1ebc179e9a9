import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-stack.js';

// The Helm chart, checked offline (deploy/helm/check.sh): rendered for every ci/ values file and
// validated against Kubernetes' and KEDA's schemas, plus the chart's own rules. The `k8s-tools` tag makes
// the global setup run tests/peers/k8s-tools.sh, which builds helm and kubeconform when missing.

const run = promisify(execFile);
const chart = join(repoRoot, 'deploy/helm/sdr');
const helm = join(process.env.SDR_PEER_CACHE ?? '/opt/sdr-peers', 'k8s-tools/bin/helm');

/** `helm template` of the minimal values plus `--set` pairs; resolves to its stderr when it fails. */
async function renderFailure(...sets: string[]): Promise<string> {
  try {
    await run(helm, [
      'template',
      'sdr',
      chart,
      '--kube-version',
      '1.34.0',
      '-f',
      join(chart, 'ci/minimal-values.yaml'),
      ...sets.flatMap((set) => ['--set', set]),
    ]);
  } catch (error) {
    return String((error as { stderr?: string }).stderr);
  }
  throw new Error(`helm template rendered with ${sets.join(' ')}`);
}

describe('the Helm chart', () => {
  it('renders every ci/ values file into manifests valid against the Kubernetes and KEDA schemas', async () => {
    const { stdout } = await run('bash', [join(repoRoot, 'deploy/helm/check.sh')], {
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(stdout).toMatch(/helm check: \d+ renderings valid/);
    expect(stdout).toMatch(
      /Summary: \d+ resources found in \d+ files - Valid: \d+, Invalid: 0, Errors: 0, Skipped: 0/,
    );
  });

  it('refuses contradictory or chart-owned values at render time, naming the value', async () => {
    expect(await renderFailure('settings.SDR_REDIS_URL=redis://elsewhere:6379')).toContain(
      'settings.SDR_REDIS_URL is set by the chart',
    );
    expect(await renderFailure('redis.external.url=redis://elsewhere:6379')).toContain(
      'also set redis.bundled.enabled=false',
    );
    expect(await renderFailure('connections.existingConfigMap=other')).toContain(
      'give exactly one of connections.yaml',
    );
    expect(await renderFailure('keda.enabled=true')).toContain('keda.prometheus.serverAddress is required');
  });
});
