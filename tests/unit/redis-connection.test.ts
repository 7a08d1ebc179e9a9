import { describe, expect, it } from 'vitest';
import { parseFailedReason, STALLED_LIMIT_REASON } from '../../runtime/job-queue.js';
import { describeRedis, parseHostList, queuePrefix } from '../../runtime/redis-connection.js';

const single = {
  url: 'redis://:pw@10.0.0.1:6379/2',
  sentinels: [],
  sentinelMaster: 'm',
  sentinelPassword: undefined,
  clusterNodes: [],
};

describe('Redis connection settings', () => {
  it('parses host:port lists with a default port and refuses bad entries', () => {
    expect(parseHostList('a:26379, b ,[::1]:1', 26_379)).toEqual([
      { host: 'a', port: 26_379 },
      { host: 'b', port: 26_379 },
      { host: '::1', port: 1 },
    ]);
    expect(parseHostList(undefined, 1)).toEqual([]);
    expect(() => parseHostList('a:99999', 1)).toThrow('"a:99999" is not host:port');
  });

  it('names the Redis without its password and hash-tags the prefix only on a cluster', () => {
    expect(describeRedis(single)).not.toContain('pw');
    expect(queuePrefix(single)).toBe('bull');
    const cluster = { ...single, clusterNodes: [{ host: 'n1', port: 7000 }] };
    expect(queuePrefix(cluster)).toBe('{sdr}');
    expect(describeRedis(cluster)).toBe('cluster n1:7000');
    const sentinel = { ...single, sentinels: [{ host: 's1', port: 26_379 }], sentinelMaster: 'sdrmaster' };
    expect(describeRedis(sentinel)).toBe('sentinel master "sdrmaster" via s1:26379');
  });

  it('reads a stored failure reason back as code and message, the stalled limit included', () => {
    expect(parseFailedReason('SDR_ERR_PG_AUTH: bad password')).toEqual({
      code: 'SDR_ERR_PG_AUTH',
      message: 'bad password',
    });
    expect(parseFailedReason(STALLED_LIMIT_REASON).code).toBe('SDR_ERR_JOB_STALLED_LIMIT');
    expect(parseFailedReason('boom')).toEqual({ code: 'SDR_ERR_SOURCE_FAILED', message: 'boom' });
  });
});
