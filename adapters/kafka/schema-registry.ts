import { type Dispatcher, request } from 'undici';
import { ownDispatcherFor } from '../../storage/dispatchers.js';
import { noAnswerReason } from '../../storage/http-agents.js';
import { Codes, SdrError } from '../../protocol/index.js';
import { Limiter } from '../shared/index.js';
import type { SchemaRegistrySettings } from './settings.js';

/** A reference from one schema to another subject's version (Avro named types, Protobuf imports, JSON $ref). */
export interface SchemaReference {
  name: string;
  subject: string;
  version: number;
}

/** One registered version of a subject. */
export interface SchemaVersion {
  version: number;
  id: number;
  schemaType: 'AVRO' | 'PROTOBUF' | 'JSON';
  schema: string;
  references: SchemaReference[];
}

/**
 * A read-only client of a Confluent-compatible Schema Registry REST API (Confluent, Karapace, Apicurio's
 * ccompat endpoint): GETs only, basic auth, custom CA, at most `maxInFlight` requests at once.
 */
export class SchemaRegistryClient {
  readonly #settings: SchemaRegistrySettings;
  readonly #agent: Dispatcher;
  readonly #limiter: Limiter;
  readonly #signal: AbortSignal;
  readonly #authorization: string | undefined;
  readonly #timeoutMs: number;

  /** `timeoutMs` bounds the proxy's CONNECT and the wait for an answer's headers. */
  constructor(
    settings: SchemaRegistrySettings,
    signal: AbortSignal,
    maxInFlight: number,
    timeoutMs = 30_000,
  ) {
    this.#settings = settings;
    this.#timeoutMs = timeoutMs;
    this.#signal = signal;
    this.#limiter = new Limiter(maxInFlight);
    // Through HTTPS_PROXY unless NO_PROXY names the registry; the TLS settings are the registry's own.
    this.#agent = ownDispatcherFor(
      settings.url,
      {
        ...(settings.ca ? { ca: settings.ca } : {}),
        ...(settings.cert ? { cert: settings.cert, key: settings.key } : {}),
        ...(settings.tlsServerName ? { servername: settings.tlsServerName } : {}),
        rejectUnauthorized: true,
      },
      maxInFlight,
      timeoutMs,
    );
    this.#authorization =
      settings.username !== undefined
        ? `Basic ${Buffer.from(`${settings.username}:${settings.password ?? ''}`).toString('base64')}`
        : undefined;
  }

  /** The registry's base URL, safe to show (credentials never live in it). */
  get url(): string {
    return this.#settings.url;
  }

  /** Releases the HTTP connections. */
  async close(): Promise<void> {
    await this.#agent.close().catch(() => undefined);
  }

  /** GET a JSON document; `null` for a 404 when `missingOk` (a subject without its own config). */
  async #get<T>(path: string, missingOk = false): Promise<T | null> {
    const url = this.#settings.url;
    return this.#limiter.run(async () => {
      this.#signal.throwIfAborted();
      let response;
      try {
        response = await request(`${url}${path}`, {
          method: 'GET',
          dispatcher: this.#agent,
          signal: this.#signal,
          headers: {
            accept: 'application/vnd.schemaregistry.v1+json, application/json',
            ...(this.#authorization ? { authorization: this.#authorization } : {}),
          },
          headersTimeout: this.#timeoutMs,
          bodyTimeout: 60_000,
        });
      } catch (error) {
        this.#signal.throwIfAborted();
        const code = (error as { code?: string }).code ?? '';
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        const detail =
          code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT'
            ? noAnswerReason(url, this.#timeoutMs)
            : [code, cause?.code, (error as Error).message].filter(Boolean).join(': ');
        throw new Codes.SDR_ERR_SCHEMA_REGISTRY_UNREACHABLE(url, detail, { cause: error });
      }
      const status = response.statusCode;
      if (status === 401 || status === 403) {
        await response.body.dump();
        throw new Codes.SDR_ERR_SCHEMA_REGISTRY_AUTH(url, status);
      }
      if (status === 404) {
        const body = (await response.body.json().catch(() => ({}))) as { error_code?: number };
        if (missingOk) return null;
        // 40401 (subject) and 40402 (version) mean the registry is there and the object vanished mid-crawl.
        if (body.error_code === 40401 || body.error_code === 40402 || body.error_code === 40403) return null;
        throw new Codes.SDR_ERR_SCHEMA_REGISTRY_NOT_FOUND(url);
      }
      if (status < 200 || status >= 300) {
        const text = (await response.body.text().catch(() => '')).slice(0, 300);
        throw new Codes.SDR_ERR_SCHEMA_REGISTRY_FAILED(url, `GET ${path}: HTTP ${status} ${text}`);
      }
      try {
        return (await response.body.json()) as T;
      } catch (error) {
        throw new Codes.SDR_ERR_SCHEMA_REGISTRY_FAILED(url, `GET ${path}: answer is not JSON`, {
          cause: error,
        });
      }
    });
  }

  /** Every subject (not soft-deleted). */
  async subjects(): Promise<string[]> {
    const subjects = await this.#get<string[]>('/subjects');
    if (!Array.isArray(subjects)) {
      throw new Codes.SDR_ERR_SCHEMA_REGISTRY_NOT_FOUND(this.#settings.url);
    }
    return subjects;
  }

  /** The global compatibility level (`BACKWARD` by default on Confluent). */
  async globalCompatibility(): Promise<string | null> {
    const config = await this.#get<{ compatibilityLevel?: string; compatibility?: string }>('/config', true);
    return config?.compatibilityLevel ?? config?.compatibility ?? null;
  }

  /** The subject's own compatibility level, or null when it inherits the global one. */
  async subjectCompatibility(subject: string): Promise<string | null> {
    try {
      const config = await this.#get<{ compatibilityLevel?: string; compatibility?: string }>(
        `/config/${encodeURIComponent(subject)}?defaultToGlobal=false`,
        true,
      );
      return config?.compatibilityLevel ?? config?.compatibility ?? null;
    } catch (error) {
      // Some registries answer 40408 with another status or reject the query parameter; that is "not set".
      if (error instanceof SdrError && error.code === 'SDR_ERR_SCHEMA_REGISTRY_FAILED') return null;
      throw error;
    }
  }

  /** Every version of a subject with its id, type, text and references. */
  async versions(subject: string): Promise<SchemaVersion[]> {
    const numbers = await this.#get<number[]>(`/subjects/${encodeURIComponent(subject)}/versions`, true);
    if (!numbers) return [];
    const versions = await Promise.all(
      numbers.map((version) =>
        this.#get<{
          version: number;
          id: number;
          schemaType?: string;
          schema: string;
          references?: SchemaReference[];
        }>(`/subjects/${encodeURIComponent(subject)}/versions/${version}`, true),
      ),
    );
    return versions
      .filter((v): v is NonNullable<typeof v> => v !== null)
      .map((v) => ({
        version: v.version,
        id: v.id,
        // The REST API omits schemaType for Avro, its default.
        schemaType: (v.schemaType ?? 'AVRO').toUpperCase() as SchemaVersion['schemaType'],
        schema: v.schema,
        references: (v.references ?? []).map((r) => ({
          name: r.name,
          subject: r.subject,
          version: r.version,
        })),
      }));
  }
}

/** Which topic a subject names under TopicNameStrategy or TopicRecordNameStrategy, if any. */
export interface SubjectTopic {
  topic: string | null;
  role: 'key' | 'value' | null;
  strategy: 'TopicNameStrategy' | 'TopicRecordNameStrategy' | 'unknown';
  /** False when the subject follows TopicNameStrategy but no such topic exists (or it is filtered out). */
  topicExists: boolean;
}

/**
 * Maps a subject to its topic: `<topic>-key` / `<topic>-value` (TopicNameStrategy); `<topic>-<record name>`
 * (TopicRecordNameStrategy) when a known topic prefixes the subject; otherwise unknown (RecordNameStrategy
 * subjects name a record type, not a topic, and only the producers' serializer config tells which topics).
 */
export function subjectTopic(subject: string, topics: ReadonlySet<string>): SubjectTopic {
  for (const role of ['key', 'value'] as const) {
    const suffix = `-${role}`;
    if (subject.endsWith(suffix) && subject.length > suffix.length) {
      const topic = subject.slice(0, -suffix.length);
      if (topics.has(topic)) return { topic, role, strategy: 'TopicNameStrategy', topicExists: true };
    }
  }
  // Longest known topic that prefixes the subject, followed by a dash and a record name.
  let best: string | null = null;
  for (let dash = subject.indexOf('-'); dash > 0; dash = subject.indexOf('-', dash + 1)) {
    const candidate = subject.slice(0, dash);
    if (topics.has(candidate)) best = candidate;
  }
  if (best !== null) {
    return { topic: best, role: null, strategy: 'TopicRecordNameStrategy', topicExists: true };
  }
  const tns = /^(.+)-(key|value)$/s.exec(subject);
  if (tns) {
    return {
      topic: tns[1] as string,
      role: tns[2] as 'key' | 'value',
      strategy: 'TopicNameStrategy',
      topicExists: false,
    };
  }
  return { topic: null, role: null, strategy: 'unknown', topicExists: false };
}
