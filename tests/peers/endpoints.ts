/** Where the test peers listen; each can be overridden to point the suite at an existing server. */
export const peers = {
  redisUrl:
    process.env.SDR_TEST_REDIS_URL ?? `redis://127.0.0.1:${process.env.SDR_TEST_REDIS_PORT ?? '6379'}`,
  postgres: {
    host: '127.0.0.1',
    port: Number(process.env.SDR_TEST_PG_PORT ?? '5432'),
    user: process.env.SDR_TEST_PG_USER ?? 'postgres',
    password: process.env.SDR_TEST_PG_PASSWORD ?? 'postgres',
  },
  motoUrl: process.env.SDR_TEST_MOTO_URL ?? `http://127.0.0.1:${process.env.SDR_TEST_MOTO_PORT ?? '5000'}`,
  vault: {
    address:
      process.env.SDR_TEST_VAULT_ADDR ?? `http://127.0.0.1:${process.env.SDR_TEST_VAULT_PORT ?? '8200'}`,
    rootToken: process.env.SDR_TEST_VAULT_TOKEN ?? 'sdr-root',
  },
} as const;
