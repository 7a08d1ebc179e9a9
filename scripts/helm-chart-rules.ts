/**
 * Rules of the Helm chart that Kubernetes' schemas cannot know, checked on `helm template` output
 * (deploy/helm/check.sh): every SDR_* variable is a real setting, the grace period covers the drain, the
 * heap cap fits the memory limit, the hardening is in place, Redis never evicts.
 *
 *   tsx scripts/helm-chart-rules.ts DIR    (every *.yaml in DIR; exit 1 listing each broken rule)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { SETTING_NAMES } from '../runtime/config.js';

interface EnvVar {
  name: string;
  value?: string;
}
interface Container {
  name: string;
  env?: EnvVar[];
  command?: string[];
  securityContext?: {
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  resources?: { limits?: { memory?: string } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  ports?: { name?: string; containerPort: number }[];
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
  containers: Container[];
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  spec?: {
    replicas?: number;
    minReplicaCount?: number;
    policyTypes?: string[];
    template?: { spec: PodSpec };
  };
}

const MIB: Record<string, number> = { Mi: 1, Gi: 1024, M: 1e6 / 2 ** 20, G: 1e9 / 2 ** 20 };

function mebibytes(quantity: string | undefined): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(Mi|Gi|M|G)$/.exec(quantity ?? '');
  return match?.[1] && match[2] ? Number(match[1]) * (MIB[match[2]] ?? NaN) : undefined;
}

const known = new Set(SETTING_NAMES.flatMap((name) => [name, `${name}_FILE`]));
const problems: string[] = [];

function checkRuntime(where: string, pod: PodSpec): void {
  const runtime = pod.containers.find((container) => container.name === 'runtime');
  if (!runtime) return void problems.push(`${where}: no container named runtime`);
  const env = new Map((runtime.env ?? []).map((variable) => [variable.name, variable.value]));
  for (const name of env.keys()) {
    if (name.startsWith('SDR_') && !known.has(name))
      problems.push(`${where}: ${name} is not a runtime setting`);
  }
  const drainSeconds = Math.ceil(Number(env.get('SDR_DRAIN_TIMEOUT_MS') ?? 30_000) / 1000);
  const preStop = runtime.lifecycle?.preStop?.sleep?.seconds ?? 0;
  // main.ts exits at the latest 5 s after the drain timeout; Kubernetes must not kill it sooner.
  const needed = drainSeconds + 5 + preStop;
  if ((pod.terminationGracePeriodSeconds ?? 30) < needed) {
    problems.push(
      `${where}: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} < drain ${drainSeconds} s + 5 s + preStop ${preStop} s`,
    );
  }
  const heap = Number(/--max-old-space-size=(\d+)/.exec(env.get('NODE_OPTIONS') ?? '')?.[1]);
  const limit = mebibytes(runtime.resources?.limits?.memory);
  if (!heap) problems.push(`${where}: NODE_OPTIONS sets no --max-old-space-size`);
  else if (limit !== undefined && heap > limit / 2) {
    problems.push(`${where}: heap cap ${heap} MiB leaves too little of the ${limit} MiB limit`);
  }
  const healthPort = runtime.ports?.find((port) => port.name === 'health')?.containerPort;
  if (String(healthPort) !== env.get('SDR_HEALTH_PORT'))
    problems.push(`${where}: the health port is not SDR_HEALTH_PORT`);
  if (env.get('SDR_HEALTH_HOST') !== '0.0.0.0')
    problems.push(`${where}: SDR_HEALTH_HOST must be 0.0.0.0 for the kubelet`);
  if (runtime.livenessProbe?.httpGet?.path !== '/livez') problems.push(`${where}: liveness is not /livez`);
  if (runtime.readinessProbe?.httpGet?.path !== '/readyz')
    problems.push(`${where}: readiness is not /readyz`);
}

function checkHardening(where: string, pod: PodSpec): void {
  if (pod.securityContext?.runAsNonRoot !== true) problems.push(`${where}: runAsNonRoot is not set`);
  if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault')
    problems.push(`${where}: seccomp is not RuntimeDefault`);
  for (const container of pod.containers) {
    const context = container.securityContext;
    if (context?.readOnlyRootFilesystem !== true)
      problems.push(`${where}/${container.name}: root filesystem not read-only`);
    if (context?.allowPrivilegeEscalation !== false)
      problems.push(`${where}/${container.name}: privilege escalation allowed`);
    if (!context?.capabilities?.drop?.includes('ALL'))
      problems.push(`${where}/${container.name}: capabilities not dropped`);
  }
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: helm-chart-rules.ts DIR\n');
  process.exit(2);
}
for (const file of readdirSync(dir).filter((name) => name.endsWith('.yaml'))) {
  const manifests = YAML.parseAllDocuments(readFileSync(join(dir, file), 'utf8'))
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
  const scaled = manifests.find((manifest) => manifest.kind === 'ScaledObject');
  for (const manifest of manifests) {
    const where = `${file}: ${manifest.kind} ${manifest.metadata.name}`;
    const pod = manifest.spec?.template?.spec;
    if (manifest.kind === 'Deployment' && pod) {
      checkRuntime(where, pod);
      checkHardening(where, pod);
      const replicas = scaled ? scaled.spec?.minReplicaCount : manifest.spec?.replicas;
      if ((replicas ?? 1) < 2) problems.push(`${where}: fewer than 2 replicas`);
      if (scaled && manifest.spec?.replicas !== undefined)
        problems.push(`${where}: sets replicas while KEDA owns them`);
    }
    if (manifest.kind === 'StatefulSet' && pod) {
      checkHardening(where, pod);
      const command = pod.containers[0]?.command?.join(' ') ?? '';
      if (!command.includes('--maxmemory-policy noeviction')) problems.push(`${where}: Redis may evict`);
      if (!command.includes('--appendonly yes')) problems.push(`${where}: Redis has no append-only file`);
    }
    if (manifest.kind === 'NetworkPolicy') {
      const types = manifest.spec?.policyTypes ?? [];
      if (!types.includes('Ingress') || !types.includes('Egress'))
        problems.push(`${where}: must govern both ingress and egress`);
    }
  }
}
if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n`);
  process.exit(1);
}
