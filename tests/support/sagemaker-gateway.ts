/**
 * A small HTTP gateway in front of moto for the SageMaker tests and bench. It forwards every call to
 * moto unchanged, and:
 * - records each operation (X-Amz-Target) and its input, so tests can prove read-only use and count requests;
 * - answers the operations moto 5 lacks (ListFeatureGroups and the lineage lists) with responses shaped
 *   exactly like AWS's documented ones, from entities the test registers;
 * - injects AWS-shaped faults (ThrottlingException as HTTP 400 or 429, AccessDeniedException) so the
 *   SDK goes through its real retry and error paths.
 */
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One recorded call. */
export interface GatewayCall {
  readonly operation: string;
  readonly input: Record<string, unknown>;
  /** The status the gateway answered with (injected or moto's). */
  status: number;
}

/** A fault to inject on matching operations, `times` times (Infinity = until removed). */
export interface Fault {
  readonly operation: string | RegExp;
  readonly error: 'ThrottlingException' | 'AccessDeniedException';
  /** 400 is what SageMaker answers; 429 exercises the HTTP-status path of the SDK's throttling detection. */
  readonly status?: 400 | 429;
  times: number;
}

/** AWS lineage summaries as the List operations return them (timestamps as epoch seconds). */
export interface LineageStore {
  artifacts: Record<string, unknown>[];
  contexts: Record<string, unknown>[];
  actions: Record<string, unknown>[];
  associations: Record<string, unknown>[];
}

/** The running gateway. */
export interface SagemakerGateway {
  readonly url: string;
  readonly calls: GatewayCall[];
  readonly faults: Fault[];
  /** Feature groups created in moto that ListFeatureGroups should list (moto cannot list them). */
  readonly featureGroups: Set<string>;
  readonly lineage: LineageStore;
  /** Operations answered by the gateway itself because moto lacks them. */
  readonly synthesized: Set<string>;
  /** Access key ids answered as AWS answers an unknown key (UnrecognizedClientException). */
  readonly rejectedAccessKeys: Set<string>;
  close(): Promise<void>;
}

/** The operations moto 5 does not implement and the gateway answers itself. */
export const SYNTHESIZED_OPERATIONS = [
  'ListFeatureGroups',
  'ListArtifacts',
  'ListContexts',
  'ListActions',
  'ListAssociations',
] as const;

const JSON_TYPE = 'application/x-amz-json-1.1';

interface Upstream {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function forward(
  upstream: URL,
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
  body: Buffer,
): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method,
        path,
        headers: { ...headers, host: upstream.host },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function page<T>(items: T[], input: Record<string, unknown>): { items: T[]; next?: string } {
  const max = typeof input.MaxResults === 'number' ? input.MaxResults : 10;
  const start =
    typeof input.NextToken === 'string' ? Number(Buffer.from(input.NextToken, 'base64').toString()) : 0;
  const slice = items.slice(start, start + max);
  const end = start + slice.length;
  return end < items.length
    ? { items: slice, next: Buffer.from(String(end)).toString('base64') }
    : { items: slice };
}

function region(headers: IncomingHttpHeaders): string {
  return /Credential=[^/]+\/\d+\/([^/]+)\//.exec(String(headers.authorization ?? ''))?.[1] ?? 'us-east-1';
}

/** A random 12-digit moto account: each test file and bench run gets its own, isolated from the others. */
export function randomAccount(): string {
  return String(200_000_000_000 + Math.floor(Math.random() * 699_999_999_999));
}

/**
 * Starts a gateway on 127.0.0.1 (a free port) in front of `upstreamUrl` (moto). With `account`, every
 * forwarded call carries moto's `x-moto-account-id`, so the data lives in that account only.
 */
export async function startSagemakerGateway(
  upstreamUrl: string,
  account?: string,
): Promise<SagemakerGateway> {
  const upstream = new URL(upstreamUrl);
  const accountHeader: Record<string, string> = account === undefined ? {} : { 'x-moto-account-id': account };
  const calls: GatewayCall[] = [];
  const faults: Fault[] = [];
  const featureGroups = new Set<string>();
  const lineage: LineageStore = { artifacts: [], contexts: [], actions: [], associations: [] };
  const synthesized = new Set<string>();
  const rejectedAccessKeys = new Set<string>();

  async function motoCall(operation: string, input: Record<string, unknown>, headers: IncomingHttpHeaders) {
    const body = Buffer.from(JSON.stringify(input));
    const res = await forward(
      upstream,
      'POST',
      '/',
      {
        ...accountHeader,
        authorization: headers.authorization,
        'content-type': JSON_TYPE,
        'x-amz-target': `SageMaker.${operation}`,
        'content-length': String(body.length),
      },
      body,
    );
    return { status: res.status, json: JSON.parse(res.body.toString() || '{}') as Record<string, unknown> };
  }

  async function synthesize(operation: string, input: Record<string, unknown>, headers: IncomingHttpHeaders) {
    switch (operation) {
      case 'ListFeatureGroups': {
        const summaries: Record<string, unknown>[] = [];
        for (const name of [...featureGroups].sort()) {
          const { status, json } = await motoCall(
            'DescribeFeatureGroup',
            { FeatureGroupName: name },
            headers,
          );
          if (status !== 200) continue;
          summaries.push({
            FeatureGroupName: json.FeatureGroupName,
            FeatureGroupArn: json.FeatureGroupArn,
            CreationTime:
              typeof json.CreationTime === 'string'
                ? Date.parse(json.CreationTime) / 1000
                : json.CreationTime,
            FeatureGroupStatus: json.FeatureGroupStatus ?? 'Created',
            ...(json.OfflineStoreStatus ? { OfflineStoreStatus: json.OfflineStoreStatus } : {}),
          });
        }
        const p = page(summaries, input);
        return { FeatureGroupSummaries: p.items, ...(p.next ? { NextToken: p.next } : {}) };
      }
      case 'ListArtifacts': {
        const p = page(lineage.artifacts, input);
        return { ArtifactSummaries: p.items, ...(p.next ? { NextToken: p.next } : {}) };
      }
      case 'ListContexts': {
        const p = page(lineage.contexts, input);
        return { ContextSummaries: p.items, ...(p.next ? { NextToken: p.next } : {}) };
      }
      case 'ListActions': {
        const p = page(lineage.actions, input);
        return { ActionSummaries: p.items, ...(p.next ? { NextToken: p.next } : {}) };
      }
      case 'ListAssociations': {
        const p = page(lineage.associations, input);
        return { AssociationSummaries: p.items, ...(p.next ? { NextToken: p.next } : {}) };
      }
      default:
        return undefined;
    }
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const target = String(req.headers['x-amz-target'] ?? '');
        const operation = target.includes('.')
          ? target.slice(target.indexOf('.') + 1)
          : target || `${req.method} ${req.url}`;
        let input: Record<string, unknown>;
        try {
          input = body.length > 0 ? (JSON.parse(body.toString()) as Record<string, unknown>) : {};
        } catch {
          input = {};
        }
        const call: GatewayCall = { operation, input, status: 0 };
        calls.push(call);
        const reply = (status: number, payload: unknown, extra: Record<string, string> = {}): void => {
          call.status = status;
          const text = JSON.stringify(payload);
          res.writeHead(status, {
            'content-type': JSON_TYPE,
            'x-amzn-requestid': randomUUID(),
            'content-length': Buffer.byteLength(text),
            ...extra,
          });
          res.end(text);
        };
        const accessKey = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
        if (accessKey !== undefined && rejectedAccessKeys.has(accessKey)) {
          reply(400, {
            __type: 'UnrecognizedClientException',
            message: 'The security token included in the request is invalid.',
          });
          return;
        }
        const fault = faults.find(
          (f) =>
            f.times > 0 &&
            (typeof f.operation === 'string' ? f.operation === operation : f.operation.test(operation)),
        );
        if (fault) {
          fault.times -= 1;
          if (fault.error === 'ThrottlingException') {
            reply(fault.status ?? 400, { __type: 'ThrottlingException', message: 'Rate exceeded' });
          } else {
            const caller = account ?? '123456789012';
            reply(400, {
              __type: 'AccessDeniedException',
              Message: `User: arn:aws:sts::${caller}:assumed-role/sdr-reader/sdr-sagemaker is not authorized to perform: sagemaker:${operation} on resource: arn:aws:sagemaker:${region(req.headers)}:${caller}:* because no identity-based policy allows the sagemaker:${operation} action`,
            });
          }
          return;
        }
        if ((SYNTHESIZED_OPERATIONS as readonly string[]).includes(operation)) {
          synthesized.add(operation);
          reply(200, await synthesize(operation, input, req.headers));
          return;
        }
        const out = await forward(
          upstream,
          req.method ?? 'POST',
          req.url ?? '/',
          { ...req.headers, ...accountHeader },
          body,
        );
        call.status = out.status;
        res.writeHead(out.status, out.headers);
        res.end(out.body);
      })().catch((error: unknown) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    faults,
    featureGroups,
    lineage,
    synthesized,
    rejectedAccessKeys,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
