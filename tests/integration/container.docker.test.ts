import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { isFinal } from '../../scripts/local-stack.js';
import { ComposeProject, buildKitCli, dockerUnavailable, repoRoot, run } from '../support/compose-stack.js';
import { waitFor } from '../support/wait.js';

/**
 * The container path as customers run it: the image built from the Dockerfile, `docker compose --profile
 * demo up` (reference cloud over wss:// with a throwaway CA, sample PostgreSQL, Redis with AOF, runtime),
 * a committed job, a queued job that survives a restart of the whole stack, and the hardening seen from
 * inside the container. Base images come from tests/peers/images.sh, never from Docker Hub.
 */
const unavailable = dockerUnavailable();
if (unavailable && process.env.CI === 'true') throw new Error(`container test: ${unavailable}`);
if (unavailable) process.stderr.write(`container test skipped: ${unavailable}\n`);

// Test timing only: faster health transitions (`up` waits for its dependencies' healthchecks), and
// retries that outlast a stack restart. The node-based checks (runtime, cloud) cost ~0.15 CPU-s a probe,
// so they run every 2 s, the shell ones (pg_isready, redis-cli) every second.
const OVERRIDE = `services:
  demo-runtime:
    environment:
      SDR_JOB_ATTEMPTS: '50'
      SDR_JOB_BACKOFF_MS: '1000'
    healthcheck:
      interval: 2s
      retries: 2
      start_period: 5s
  demo-postgres:
    healthcheck:
      interval: 1s
  cloud:
    healthcheck:
      interval: 2s
  redis:
    healthcheck:
      interval: 1s
`;

/** Calls the reference cloud's admin API from inside the cloud container (no port is published). */
const CLOUD_API = `
const fs = require('fs');
const [method, path, body] = process.argv.slice(1);
const admin = fs.readFileSync('/var/lib/sdr-cloud/admin-token', 'utf8').trim();
const agent = fs.readFileSync('/demo/agent-id', 'utf8').trim();
fetch('https://cloud:8787' + path.replace('{agent}', agent), {
  method,
  headers: { authorization: 'Bearer ' + admin, 'content-type': 'application/json' },
  body: body || undefined,
}).then(async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1); },
        (e) => { console.error(e.message); process.exit(2); });
`;

/** What the container sees of itself: user, root filesystem, capabilities. */
const SELF_CHECK = `
const fs = require('fs');
const status = fs.readFileSync('/proc/self/status', 'utf8');
const field = (name) => status.match(new RegExp(name + ':\\\\s*(\\\\S+)'))[1];
const write = (path) => { try { fs.writeFileSync(path, 'x'); return 'written'; } catch (e) { return e.code; } };
console.log(JSON.stringify({
  uid: process.getuid(), gid: process.getgid(),
  rootfs: write('/sdr-probe'), app: write('/app/sdr-probe'), tmp: write('/tmp/sdr-probe'),
  capEff: field('CapEff'), capPrm: field('CapPrm'), noNewPrivs: field('NoNewPrivs'),
  nodeOptions: process.env.NODE_OPTIONS, heapLimitMb: Math.round(require('v8').getHeapStatistics().heap_size_limit / 1048576),
  runtimeArgv: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0').filter(Boolean),
}));
`;

/** Waits for `probe`, which runs a command in a container (`docker exec`, often a node), once a second. */
const pollInContainers = async <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>) =>
  await waitFor(what, probe, { timeoutMs, intervalMs: 1_000 });

/** One instance in GET /v1/agents/:id. */
interface Instance {
  instanceId: string;
  connectedSince: string;
  connections: { up: number; of: number };
}

interface CloudJob {
  jobId: string;
  state: string;
  result?: { records: number; sha256: string };
  error?: { code: string; message: string };
}

describe.skipIf(unavailable !== undefined)('the container path (Dockerfile + compose.yaml)', () => {
  let project: ComposeProject;

  const cloud = async <T>(method: string, path: string, body?: unknown): Promise<T> =>
    JSON.parse(
      await project.exec('cloud', [
        'node',
        '-e',
        CLOUD_API,
        method,
        path,
        ...(body === undefined ? [] : [JSON.stringify(body)]),
      ]),
    ) as T;
  const submit = async () =>
    (
      await cloud<{ jobId: string }>('POST', '/v1/agents/{agent}/jobs', {
        connection: 'demo-shop',
        options: {},
      })
    ).jobId;
  const finished = async (jobId: string, timeoutMs: number) =>
    await pollInContainers(`job ${jobId} finishing`, timeoutMs, async () => {
      const job = await cloud<CloudJob>('GET', `/v1/jobs/${jobId}`);
      return isFinal(job) ? job : undefined;
    });
  const redis = async (...args: string[]) => (await project.exec('redis', ['redis-cli', ...args])).trim();

  beforeAll(async () => {
    // The image builds as a user would build it; BuildKit's cache makes a second run take seconds.
    project = new ComposeProject(OVERRIDE);
    const cli = buildKitCli();
    const ca = process.env.SDR_BUILD_CA_FILE ?? '/etc/ssl/certs/ca-certificates.crt';
    const secret = existsSync(ca) ? ['--secret', `id=ca,src=${ca}`] : [];
    await run(cli.command, ['build', '--quiet', ...secret, '-t', project.runtimeImage, '.'], {
      env: cli.env,
      timeoutMs: 1_800_000, // a cold build on a loaded 2-core machine took over 15 min
    });
    await run(
      cli.command,
      ['build', '--quiet', '-f', 'compose/demo/Dockerfile', '-t', project.demoToolsImage, '.'],
      {
        env: cli.env,
        timeoutMs: 600_000,
      },
    );
    await project.run(['up', '-d', 'demo-runtime'], 300_000);
    await project.waitHealth('demo-runtime', 'healthy');
  }, 2_700_000);

  afterAll(async () => {
    await project?.down();
  }, 180_000);

  it('commits a job the reference cloud sends to the runtime in compose', async () => {
    const job = await finished(await submit(), 120_000);
    expect(job.error).toBeUndefined();
    expect(job.state).toBe('committed');
    expect(job.result?.records).toBeGreaterThan(10);
    expect(job.result?.sha256).toMatch(/^[0-9a-f]{64}$/);
  }, 180_000);

  it('runs the runtime unprivileged: uid ≠ 0, read-only root, no capabilities, heap capped, no port published', async () => {
    const self = JSON.parse(await project.exec('demo-runtime', ['node', '-e', SELF_CHECK])) as Record<
      string,
      unknown
    >;
    expect(self).toMatchObject({
      uid: 1000,
      rootfs: 'EROFS',
      app: 'EROFS',
      tmp: 'written',
      capEff: '0000000000000000',
      capPrm: '0000000000000000',
      noNewPrivs: '1',
      nodeOptions: '--max-old-space-size=128',
    });
    // The image's entrypoint (PID 1, the runtime) caps V8's young generation; see the Dockerfile.
    expect(self.runtimeArgv).toEqual(expect.arrayContaining(['node', '--max-semi-space-size=2']));
    expect(self.uid).not.toBe(0);
    expect(self.heapLimitMb).toBeLessThanOrEqual(200);

    const ids = await project.containerIds();
    expect(ids.length).toBeGreaterThanOrEqual(5);
    for (const id of ids) {
      const [bindings, ports] = (
        await run('docker', [
          'inspect',
          '--format',
          '{{json .HostConfig.PortBindings}}|{{json .NetworkSettings.Ports}}',
          id,
        ])
      )
        .trim()
        .split('|');
      expect(Object.keys(JSON.parse(bindings ?? '{}') ?? {})).toEqual([]);
      for (const published of Object.values((JSON.parse(ports ?? '{}') ?? {}) as Record<string, unknown>))
        expect(published).toBeNull();
    }
    const runtime = JSON.parse(
      await run('docker', [
        'inspect',
        '--format',
        '{{json .HostConfig}}',
        await project.container('demo-runtime'),
      ]),
    ) as { ReadonlyRootfs: boolean; CapDrop: string[]; SecurityOpt: string[]; Memory: number };
    expect(runtime.ReadonlyRootfs).toBe(true);
    expect(runtime.CapDrop).toContain('ALL');
    expect(runtime.SecurityOpt).toContain('no-new-privileges:true');
    expect(runtime.Memory).toBe(384 * 1024 * 1024);
  }, 120_000);

  it('lets compose scale the runtime: no container_name, no fixed ports on a runtime service', () => {
    const file = YAML.parse(readFileSync(join(repoRoot, 'compose.yaml'), 'utf8'), { merge: true }) as {
      services: Record<string, Record<string, unknown>>;
    };
    for (const name of ['runtime', 'demo-runtime']) {
      expect(file.services[name]).toBeDefined();
      expect(file.services[name]).not.toHaveProperty('container_name');
      expect(file.services[name]).not.toHaveProperty('ports');
    }
  });

  it('scales to 3 runtimes on one agent token: the cloud lists 3 instances and none reconnects', async () => {
    const scale = async (replicas: number) =>
      await project.run(
        ['up', '-d', '--no-recreate', '--scale', `demo-runtime=${replicas}`, 'demo-runtime'],
        300_000,
      );
    const instances = async () =>
      (await cloud<{ instances: Instance[] }>('GET', '/v1/agents/{agent}')).instances;
    const connected = (count: number) => async () => {
      const listed = await instances();
      return listed.length === count && listed.every((i) => i.connections.up === i.connections.of)
        ? listed
        : undefined;
    };
    const seen = (listed: Instance[]) => listed.map((i) => `${i.instanceId}@${i.connectedSince}`).sort();

    await scale(3);
    const three = await pollInContainers('3 instances connected', 180_000, connected(3));
    expect(new Set(three.map((i) => i.instanceId)).size).toBe(3);
    // Version 1 replaced one token's connections 2–3 times a second: with nothing failing, 10 s later
    // every instance must still be on the connection it had.
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    expect(seen(await instances())).toEqual(seen(three));

    await scale(1);
    await pollInContainers('back to 1 instance', 180_000, connected(1));
  }, 600_000);

  it('is healthy only while Redis answers: stopping Redis turns the healthcheck unhealthy', async () => {
    await project.run(['stop', 'redis']);
    await project.waitHealth('demo-runtime', 'unhealthy', 60_000);
    await project.run(['start', 'redis']);
    await project.waitHealth('demo-runtime', 'healthy', 60_000);
  }, 180_000);

  it('keeps a queued job through a restart of the whole stack (Redis AOF volume) and commits it', async () => {
    // With the source down the job waits in Redis between retries.
    await project.run(['stop', 'demo-postgres']);
    const jobId = await submit();
    const key = `bull:sdr-jobs:${jobId}`;
    await pollInContainers(`job ${jobId} queued in Redis`, 60_000, async () =>
      (await redis('EXISTS', key)) === '1' ? true : undefined,
    );
    await project.run(['stop', '--timeout', '40'], 240_000);
    await project.run(['start', 'redis']);
    await pollInContainers('redis answering after restart', 60_000, async () =>
      (await redis('PING')) === 'PONG' ? true : undefined,
    );
    expect(await redis('CONFIG', 'GET', 'appendonly')).toMatch(/yes/);
    expect(await redis('EXISTS', key)).toBe('1');

    await project.run(['up', '-d', 'demo-runtime'], 300_000);
    const job = await finished(jobId, 180_000);
    expect(job.error).toBeUndefined();
    expect(job.state).toBe('committed');
  }, 600_000);
});
