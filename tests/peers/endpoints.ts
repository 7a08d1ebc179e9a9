const peerDir = process.env.SDR_PEER_DIR ?? '/tmp/sdr-peers';

/** Where the test peers listen; each can be overridden to point the suite at an existing server. */
export const peers = {
  redisUrl:
    process.env.SDR_TEST_REDIS_URL ?? `redis://127.0.0.1:${process.env.SDR_TEST_REDIS_PORT ?? '6379'}`,
  /** tests/peers/redis-lru.sh: a Redis with maxmemory-policy allkeys-lru, which the runtime must refuse. */
  redisLruUrl:
    process.env.SDR_TEST_REDIS_LRU_URL ??
    `redis://127.0.0.1:${process.env.SDR_TEST_REDIS_LRU_PORT ?? '6390'}`,
  postgres: {
    host: '127.0.0.1',
    port: Number(process.env.SDR_TEST_PG_PORT ?? '5432'),
    user: process.env.SDR_TEST_PG_USER ?? 'postgres',
    password: process.env.SDR_TEST_PG_PASSWORD ?? 'postgres',
  },
  /** moto in server mode (AWS API emulator). */
  motoUrl: process.env.SDR_TEST_MOTO_URL ?? `http://127.0.0.1:${process.env.SDR_TEST_MOTO_PORT ?? '5000'}`,
  /** tests/peers/kafka.sh: KRaft broker; passwords are the peer's fixed, throwaway test values. */
  kafka: {
    plaintext: `127.0.0.1:${process.env.SDR_TEST_KAFKA_PORT ?? '19092'}`,
    mtls: `127.0.0.1:${process.env.SDR_TEST_KAFKA_SSL_PORT ?? '19093'}`,
    saslSsl: `127.0.0.1:${process.env.SDR_TEST_KAFKA_SASL_PORT ?? '19094'}`,
    admin: {
      username: 'sdr-admin',
      password: process.env.SDR_TEST_KAFKA_ADMIN_PASSWORD ?? 'sdr-admin-secret',
    },
    reader: {
      username: 'sdr-reader',
      password: process.env.SDR_TEST_KAFKA_READER_PASSWORD ?? 'sdr-reader-secret',
    },
    tlsDir: process.env.SDR_TEST_KAFKA_TLS_DIR ?? `${peerDir}/kafka/tls`,
  },
  /** tests/peers/schema-registry.sh: Confluent-compatible REST API over HTTPS (the Kafka peer's CA). */
  schemaRegistry: {
    url:
      process.env.SDR_TEST_SCHEMA_REGISTRY_URL ??
      `https://127.0.0.1:${process.env.SDR_TEST_SCHEMA_REGISTRY_PORT ?? '18081'}/apis/ccompat/v7`,
    username: 'sdr-registry',
    password: process.env.SDR_TEST_SCHEMA_REGISTRY_PASSWORD ?? 'sdr-registry-secret',
  },
  vault: {
    address:
      process.env.SDR_TEST_VAULT_ADDR ?? `http://127.0.0.1:${process.env.SDR_TEST_VAULT_PORT ?? '8200'}`,
    rootToken: process.env.SDR_TEST_VAULT_TOKEN ?? 'sdr-root',
  },
} as const;
