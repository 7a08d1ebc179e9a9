import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { scaled } from '../support/wait.js';

describe('runtime crash guard', () => {
  it('fails only the job whose library callback threw, with SDR_ERR_ADAPTER_CRASHED, and keeps the process up', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'tests/support/crash-guard-child.ts'],
      { timeout: scaled(60_000) },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(result.crash).toMatchObject({
      code: 'SDR_ERR_ADAPTER_CRASHED',
      message: expect.stringContaining(
        "TypeError: Cannot read properties of undefined (reading '0')",
      ) as unknown,
    });
    // The crashed adapter saw its signal abort (so it closes its clients); the other job did not.
    expect(result.seen).toEqual({ crashySignalAborted: true, healthySignalAborted: false });
    expect(result.healthyEnd).toBe('StopSignal');
    expect(result.counted).toEqual(
      expect.arrayContaining([
        { failedJob: 'yes', count: 1 },
        { failedJob: 'no', count: 1 },
      ]),
    );
  });
});
