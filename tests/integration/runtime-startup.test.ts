import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RuntimeProcess } from '../../scripts/runtime-process.js';

describe('runtime start-up with bad configuration', () => {
  it('exits non-zero with one line per problem and no stack trace', async () => {
    const runtime = new RuntimeProcess({
      SDR_CONCURRENCY: 'lots',
      SDR_CLOUD_URL: 'ws://127.0.0.1:1/v1/tunnel',
    }).start();
    expect(await runtime.exited()).toBe(78);
    const output = runtime.rawOutput.join('');
    expect(output).toContain('sdr: SDR_CONCURRENCY: expected a whole number');
    expect(output).toContain('sdr: SDR_AGENT_TOKEN: required');
    expect(output).toContain('sdr: SDR_CLOUD_URL: plain ws:// is refused');
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('names the connections file and the entry when a connection is wrong', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdr-start-'));
    const file = join(dir, 'connections.yaml');
    writeFileSync(file, 'connections:\n  - {name: pg, type: postgres, port: 99999}\n');
    const runtime = new RuntimeProcess({
      SDR_CLOUD_URL: 'wss://cloud.invalid/v1/tunnel',
      SDR_AGENT_TOKEN: 't',
      SDR_CLOUD_PUBLIC_KEY: 'MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=',
      SDR_CONNECTIONS_FILE: file,
    }).start();
    expect(await runtime.exited()).toBe(78);
    expect(runtime.rawOutput.join('')).toMatch(
      new RegExp(`sdr: connections file ${file}: connection "pg" → port: .*65535`),
    );
  });
});
