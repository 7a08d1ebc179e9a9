import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run demo', () => {
  it('runs the whole path and prints a summary of what the cloud committed', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
      cwd: root,
      timeout: 120_000,
    });
    expect(stdout).toMatch(/runtime connected over wss:\/\/127\.0\.0\.1:\d+\/v1\/tunnel/);
    expect(stdout).toMatch(/^ {2}table +\d+$/m);
    expect(stdout).toMatch(/^ {2}column +\d+$/m);
    expect(stdout).toMatch(/^ {2}sha256 +[0-9a-f]{64}$/m);
    expect(stdout).toMatch(/^ {2}result file +\S+\.jsonl$/m);
  });
});
