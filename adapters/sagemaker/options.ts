import { z } from 'zod';
import { Codes } from '../../protocol/index.js';
import { createNameFilter, describeIssues, globListSchema, parseLimits } from '../shared/index.js';
import type { ConnectionScope, SourceConnection } from '../types.js';

/** Every SageMaker resource type the adapter can extract, in extraction order. */
export const RESOURCE_TYPES = [
  'models',
  'trainingJobs',
  'hyperParameterTuningJobs',
  'autoMLJobs',
  'processingJobs',
  'transformJobs',
  'modelPackageGroups',
  'modelPackages',
  'endpointConfigs',
  'endpoints',
  'featureGroups',
  'pipelines',
  'lineage',
] as const;

/** One of `RESOURCE_TYPES`. */
export type ResourceType = (typeof RESOURCE_TYPES)[number];

const resourceType = z.enum(RESOURCE_TYPES);
const resourceTypeList = z.array(resourceType).max(RESOURCE_TYPES.length);

const extractionSchema = z
  .object({
    /** Glob patterns (`*`, `?`, case-insensitive) a resource's name must match one of; empty = all. */
    include: globListSchema.default([]),
    /** Glob patterns a resource's name must match none of. */
    exclude: globListSchema.default([]),
    /** Resource types to extract; empty = all. */
    resourceTypes: resourceTypeList.default([]),
    /** Resource types to skip. */
    excludeResourceTypes: resourceTypeList.default([]),
    /** Only resources created strictly after this instant. */
    createdAfter: z.iso.datetime({ offset: true }).optional(),
    /** Model tags cost one ListTags request per model; off saves those requests. */
    modelTags: z.boolean().default(true),
    /** How many recent executions each pipeline record summarises. */
    pipelineExecutions: z.number().int().min(0).max(100).default(10),
  })
  .strict();

/** Validated extraction options sent by the cloud. */
export interface SagemakerExtractOptions {
  /** The resource types the request named explicitly (empty: all), to check against the limits. */
  readonly requestedTypes: readonly ResourceType[];
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  /** The connection's name ceiling (limits.names), set at extraction, never by a request. */
  readonly within?: readonly string[];
  readonly resourceTypes: ReadonlySet<ResourceType>;
  readonly createdAfter?: Date;
  readonly modelTags: boolean;
  readonly pipelineExecutions: number;
}

const problems = (error: z.ZodError): string => describeIssues(error, '(root)');

/** Parses the cloud's extraction options; throws `SDR_ERR_INVALID_OPTIONS`. */
export function parseExtractOptions(
  raw: Record<string, unknown>,
  connection: string,
): SagemakerExtractOptions {
  const parsed = extractionSchema.safeParse(raw);
  if (!parsed.success) throw new Codes.SDR_ERR_INVALID_OPTIONS(connection, problems(parsed.error));
  const value = parsed.data;
  const wanted = new Set<ResourceType>(value.resourceTypes.length > 0 ? value.resourceTypes : RESOURCE_TYPES);
  for (const type of value.excludeResourceTypes) wanted.delete(type);
  return {
    requestedTypes: value.resourceTypes,
    include: value.include,
    exclude: value.exclude,
    resourceTypes: wanted,
    ...(value.createdAfter === undefined ? {} : { createdAfter: new Date(value.createdAfter) }),
    modelTags: value.modelTags,
    pipelineExecutions: value.pipelineExecutions,
  };
}

const connectionSchema = z
  .object({
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region such as eu-west-1')
      .optional(),
    endpoint: z.url().optional(),
    /** STS endpoint for assume-role (VPC endpoints, emulators); the regional default otherwise. */
    stsEndpoint: z.url().optional(),
    roleArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'an IAM role ARN')
      .optional(),
    externalId: z.string().min(2).max(1224).optional(),
    roleSessionName: z
      .string()
      .regex(/^[\w+=,.@-]{2,64}$/)
      .default('sdr-sagemaker'),
    maxRequestsPerSecond: z.number().min(0).max(10_000).default(10),
    describeConcurrency: z.number().int().min(1).max(64).default(4),
    maxAttempts: z.number().int().min(1).max(20).default(8),
  })
  .strict();

/** Static credentials resolved from the connection's secret references. */
export interface StaticCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** The connection's validated settings; `credentials` is absent when the default chain applies. */
export interface SagemakerSettings {
  readonly region?: string;
  readonly endpoint?: string;
  readonly stsEndpoint?: string;
  readonly roleArn?: string;
  readonly externalId?: string;
  readonly roleSessionName: string;
  /** 0 means no cap. */
  readonly maxRequestsPerSecond: number;
  readonly describeConcurrency: number;
  readonly maxAttempts: number;
  readonly credentials?: StaticCredentials;
}

/** Validates a connection's options and credentials; throws `SDR_ERR_SAGEMAKER_CONFIG` naming no value. */
export function parseSettings(connection: SourceConnection): SagemakerSettings {
  const where = connection.name;
  const parsed = connectionSchema.safeParse(connection.options);
  if (!parsed.success) throw new Codes.SDR_ERR_SAGEMAKER_CONFIG(where, problems(parsed.error));
  if (parsed.data.externalId !== undefined && parsed.data.roleArn === undefined) {
    throw new Codes.SDR_ERR_SAGEMAKER_CONFIG(where, 'externalId is set but roleArn is not');
  }
  const { accessKeyId, secretAccessKey, sessionToken } = connection.credentials;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new Codes.SDR_ERR_SAGEMAKER_CONFIG(
      where,
      'credentials need both accessKeyId and secretAccessKey, or neither (to use the AWS default chain)',
    );
  }
  if (sessionToken !== undefined && accessKeyId === undefined) {
    throw new Codes.SDR_ERR_SAGEMAKER_CONFIG(where, 'credentials.sessionToken needs accessKeyId too');
  }
  const credentials =
    accessKeyId !== undefined && secretAccessKey !== undefined
      ? { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) }
      : undefined;
  return { ...parsed.data, ...(credentials === undefined ? {} : { credentials }) };
}

/**
 * Compiles include/exclude glob patterns into one name test with the adapters' shared linear-time
 * matcher, case-insensitive (SageMaker treats resource names so). An empty include list means all.
 */
export function nameFilter(
  include: readonly string[],
  exclude: readonly string[],
): (name: string) => boolean {
  return createNameFilter({ include, exclude }, 'insensitive');
}

const limitsSchema = z
  .object({
    /** Resource types a request may extract; default all. Types outside are never extracted. */
    resourceTypes: resourceTypeList.default([...RESOURCE_TYPES]),
    /** Resource names (globs, case-insensitive) a request may extract; a request's filter is narrowed to these. */
    names: globListSchema.default(['*']),
    /** Whether a request may fetch model tags (`modelTags`). */
    modelTags: z.boolean().default(true),
  })
  .strict();

/** A sagemaker connection's ceilings, from `limits:` in the connections file. */
export type SagemakerLimits = z.infer<typeof limitsSchema>;

function limitsOf(scope: ConnectionScope): SagemakerLimits {
  return parseLimits(limitsSchema, scope.limits, scope.name);
}

/** Refuses options asking for resource types or tags the connection's limits do not allow. */
export function checkSagemakerLimits(
  options: SagemakerExtractOptions | undefined,
  scope: ConnectionScope,
): void {
  const limits = limitsOf(scope);
  if (options === undefined) return;
  const denied = options.requestedTypes.filter((type) => !limits.resourceTypes.includes(type));
  if (denied.length > 0) {
    throw new Codes.SDR_ERR_INVALID_OPTIONS(
      scope.name,
      `resourceTypes: ${denied.join(', ')} not allowed by this connection's limits.resourceTypes`,
    );
  }
  if (options.modelTags && !limits.modelTags && options.resourceTypes.has('models')) {
    throw new Codes.SDR_ERR_INVALID_OPTIONS(
      scope.name,
      'modelTags: this connection does not allow model tags (limits.modelTags); send modelTags: false',
    );
  }
}

/** The options narrowed to the connection's limits: only allowed types, names within the allowed globs. */
export function narrowToLimits(
  options: SagemakerExtractOptions,
  scope: ConnectionScope,
): SagemakerExtractOptions {
  const limits = limitsOf(scope);
  return {
    ...options,
    resourceTypes: new Set([...options.resourceTypes].filter((type) => limits.resourceTypes.includes(type))),
    modelTags: options.modelTags && limits.modelTags,
    within: limits.names,
  };
}
