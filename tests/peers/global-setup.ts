import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const here = dirname(fileURLToPath(import.meta.url));

/** The peers a file-name tag asks for (`x.redis.postgres.test.ts` → redis, postgres, postgres-tls). */
const peersOfTag: Record<string, string[]> = {
  redis: ['redis'],
  postgres: ['postgres', 'postgres-tls'],
  moto: ['moto'],
  vault: ['vault'],
  kafka: ['kafka', 'schema-registry'],
};

/**
 * The peers of a test file's tags: the dot-separated words between its name and `.test.ts`. A tag not in
 * the table above that names a script here (`x.docker.test.ts` → docker.sh) starts that script.
 */
export function peersForFiles(files: readonly string[]): string[] {
  const wanted = new Set<string>();
  for (const file of files) {
    for (const tag of basename(file).split('.').slice(1, -2)) {
      const peers = peersOfTag[tag] ?? (existsSync(join(here, `${tag}.sh`)) ? [tag] : []);
      for (const peer of peers) wanted.add(peer);
    }
  }
  return [...wanted].sort();
}

/**
 * Starts the real peers the selected integration files need, in parallel (tests/peers/ctl.sh start,
 * which prints each one's install and start time). SDR_TEST_PEERS=a,b (or `none`) overrides the choice.
 * A peer that cannot start fails the run.
 */
export default async function startPeers(project: TestProject): Promise<void> {
  let peers: string[];
  if (process.env.SDR_TEST_PEERS !== undefined) {
    peers = process.env.SDR_TEST_PEERS.split(',')
      .map((name) => name.trim())
      .filter((name) => name && name !== 'none');
  } else {
    // The command line's file filters; vitest keeps them on its instance (not yet a public field).
    const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern;
    const { testFiles } = await project.globTestFiles(filters);
    peers = peersForFiles(testFiles);
  }
  if (peers.length === 0) return;
  try {
    execFileSync('bash', [join(here, 'ctl.sh'), 'start', ...peers], {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 45 * 60_000,
    });
  } catch (error) {
    throw new Error(
      `test peers could not start (${peers.join(', ')}); the lines above name the one that failed`,
      { cause: error },
    );
  }
}
