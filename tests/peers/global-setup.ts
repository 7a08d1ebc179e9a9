import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Starts every real peer the suite uses (each script is idempotent); a peer that cannot start fails the run. */
export default function startPeers(): void {
  const only = process.env.SDR_TEST_PEERS?.split(',').map((name) => name.trim());
  for (const script of readdirSync(here)
    .filter((name) => name.endsWith('.sh') && name !== 'lib.sh')
    .sort()) {
    if (only && !only.includes(script.replace(/\.sh$/, ''))) continue;
    try {
      execFileSync('bash', [join(here, script)], {
        stdio: ['ignore', 'inherit', 'inherit'],
        timeout: 45 * 60_000,
      });
    } catch (error) {
      throw new Error(`test peer ${script} could not start: ${(error as Error).message}`, { cause: error });
    }
  }
}
