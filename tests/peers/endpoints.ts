const peerDir = process.env.SDR_PEER_DIR ?? '/tmp/sdr-peers';
const peerCache = process.env.SDR_PEER_CACHE ?? '/opt/sdr-peers';

/** Where the test peers listen; each can be overridden to point the suite at an existing server. */
export const peers = {
  redisUrl:
    process.env.SDR_TEST_REDIS_URL ?? `redis://127.0.0.1:${process.env.SDR_TEST_REDIS_PORT ?? '6379'}`,
  /** tests/peers/redis-sentinel.sh: master "sdrmaster" watched by three sentinels. */
  redisSentinel: {
    sentinels: ['0', '1', '2']
      .map((i) => `127.0.0.1:${Number(process.env.SDR_TEST_SENTINEL_PORT ?? '26379') + Number(i)}`)
      .join(','),
    master: 'sdrmaster',
    firstPort: Number(process.env.SDR_TEST_SENTINEL_PORT ?? '26379'),
  },
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
  /** tests/peers/postgres-restart.sh: the fault suite's own PostgreSQL, stopped and started mid-job. */
  postgresRestart: {
    host: '127.0.0.1',
    port: Number(process.env.SDR_TEST_PG_RESTART_PORT ?? '5434'),
    user: 'postgres',
    password: 'postgres',
  },
  /** moto in server mode (AWS API emulator). */
  motoUrl: process.env.SDR_TEST_MOTO_URL ?? `http://127.0.0.1:${process.env.SDR_TEST_MOTO_PORT ?? '5000'}`,
  /** tests/peers/moto-iam.sh: a moto of its own whose IAM enforcement tests switch on (never the shared one). */
  motoIamUrl:
    process.env.SDR_TEST_MOTO_IAM_URL ?? `http://127.0.0.1:${process.env.SDR_TEST_MOTO_IAM_PORT ?? '5010'}`,
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
  /** tests/peers/vault.sh: OpenBao in dev mode (the Vault HTTP API). */
  /** tests/peers/azurite.sh: Azure Blob emulator with its well-known development account. */
  azurite: {
    accountUrl: `http://127.0.0.1:${process.env.SDR_TEST_AZURITE_PORT ?? '10000'}/devstoreaccount1`,
    accountName: 'devstoreaccount1',
    // Azurite's published development key (not a secret): https://learn.microsoft.com/azure/storage/common/storage-use-azurite
    accountKey: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
  },
  /** tests/peers/fake-gcs.sh: Google Cloud Storage emulator over plain HTTP. */
  gcsUrl: process.env.SDR_TEST_GCS_URL ?? `http://127.0.0.1:${process.env.SDR_TEST_GCS_PORT ?? '4443'}`,
  vault: {
    address:
      process.env.SDR_TEST_VAULT_ADDR ?? `http://127.0.0.1:${process.env.SDR_TEST_VAULT_PORT ?? '8200'}`,
    rootToken: process.env.SDR_TEST_VAULT_TOKEN ?? 'sdr-root',
    /** The server binary (tests/peers/vault.sh links OpenBao's `bao` here); a test starts a TLS server from it. */
    binary: process.env.SDR_TEST_VAULT_BIN ?? `${peerCache}/bin/bao`,
  },
} as const;
