import { describe, expect, it } from 'vitest';
import { nameFilter, parseKafkaExtractOptions } from '../../adapters/kafka/options.js';
import { subjectTopic } from '../../adapters/kafka/schema-registry.js';
import { compileKafkaSettings } from '../../adapters/kafka/settings.js';
import type { SourceConnection } from '../../adapters/types.js';
import type { SdrError } from '../../protocol/index.js';

const connection = (
  options: Record<string, unknown>,
  credentials: Record<string, string> = {},
): SourceConnection => ({
  name: 'k',
  type: 'kafka',
  options,
  credentials,
});

function code(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as SdrError).code;
  }
  return 'no error';
}

describe('kafka connection settings', () => {
  it('maps Confluent Cloud API key and secret to SASL_SSL/PLAIN', () => {
    const settings = compileKafkaSettings(
      connection({ bootstrapServers: 'a:9092, b:9092' }, { apiKey: 'KEY', apiSecret: 'SECRET' }),
    );
    expect(settings.bootstrapServers).toEqual(['a:9092', 'b:9092']);
    expect(settings.authType).toBe('SASL_SSL/PLAIN');
    expect(settings.sasl).toEqual({ mechanism: 'PLAIN', username: 'KEY', password: 'SECRET' });
    expect(settings.tls).toMatchObject({ rejectUnauthorized: true });
    expect(settings.maxInFlight).toBe(5);
  });

  it('uses host and port when no bootstrap list is given, and mTLS for SSL with a client certificate', () => {
    const settings = compileKafkaSettings({
      ...connection({ securityProtocol: 'SSL' }, { tlsCa: 'CA', tlsCert: 'CERT', tlsKey: 'KEY' }),
      host: 'broker',
      port: 9093,
    });
    expect(settings.bootstrapServers).toEqual(['broker:9093']);
    expect(settings.authType).toBe('SSL/mTLS');
    expect(settings.tls).toMatchObject({ ca: 'CA', cert: 'CERT', key: 'KEY' });
  });

  it('refuses plaintext unless allowed, SASL without credentials, and half a client certificate', () => {
    expect(
      code(() =>
        compileKafkaSettings(connection({ bootstrapServers: ['a:1'], securityProtocol: 'PLAINTEXT' })),
      ),
    ).toBe('SDR_ERR_KAFKA_CONNECTION_INVALID');
    expect(
      compileKafkaSettings(
        connection({ bootstrapServers: ['a:1'], securityProtocol: 'PLAINTEXT', allowPlaintext: true }),
      ).authType,
    ).toBe('PLAINTEXT');
    expect(code(() => compileKafkaSettings(connection({ bootstrapServers: ['a:1'] })))).toBe(
      'SDR_ERR_KAFKA_CONNECTION_INVALID',
    );
    expect(
      code(() =>
        compileKafkaSettings(
          connection({ bootstrapServers: ['a:1'], securityProtocol: 'SSL' }, { tlsCert: 'C' }),
        ),
      ),
    ).toBe('SDR_ERR_KAFKA_CONNECTION_INVALID');
    expect(
      code(() =>
        compileKafkaSettings(
          connection(
            { bootstrapServers: ['a:1'], schemaRegistry: { url: 'http://sr' } },
            { username: 'u', password: 'p' },
          ),
        ),
      ),
    ).toBe('SDR_ERR_KAFKA_CONNECTION_INVALID');
  });

  it('never puts a credential in an error message', () => {
    try {
      compileKafkaSettings(connection({ bootstrapServers: ['not a server'] }, { password: 'hunter2' }));
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
      return;
    }
    throw new Error('expected an error');
  });
});

describe('kafka extraction options', () => {
  it('defaults to everything except internal topics, with empty groups', () => {
    const options = parseKafkaExtractOptions({}, 'k');
    expect(options).toMatchObject({ includeInternalTopics: false, includeEmptyGroups: true, batchSize: 250 });
    expect(code(() => parseKafkaExtractOptions({ batchSize: 0 }, 'k'))).toBe('SDR_ERR_INVALID_OPTIONS');
    expect(code(() => parseKafkaExtractOptions({ unknown: true }, 'k'))).toBe('SDR_ERR_INVALID_OPTIONS');
  });

  it('matches globs with exclude winning over include', () => {
    const match = nameFilter({ include: ['orders.*', 'pay?'], exclude: ['*.dlq'] });
    expect(['orders.eu', 'pay1', 'orders.eu.dlq', 'payments', 'ordersX'].filter(match)).toEqual([
      'orders.eu',
      'pay1',
    ]);
  });
});

describe('subject to topic mapping', () => {
  const topics = new Set(['orders', 'orders-eu', 'customers']);
  it('follows TopicNameStrategy and TopicRecordNameStrategy, and admits RecordNameStrategy is unknown', () => {
    expect(subjectTopic('orders-value', topics)).toMatchObject({
      topic: 'orders',
      role: 'value',
      topicExists: true,
    });
    expect(subjectTopic('orders-eu-key', topics)).toMatchObject({ topic: 'orders-eu', role: 'key' });
    expect(subjectTopic('customers-com.acme.Audit', topics)).toMatchObject({
      topic: 'customers',
      role: null,
      strategy: 'TopicRecordNameStrategy',
    });
    expect(subjectTopic('com.acme.Address', topics)).toEqual({
      topic: null,
      role: null,
      strategy: 'unknown',
      topicExists: false,
    });
    expect(subjectTopic('gone-value', topics)).toMatchObject({ topic: 'gone', topicExists: false });
  });
});
