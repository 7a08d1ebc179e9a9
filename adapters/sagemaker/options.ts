import { z } from 'zod';
import { Codes } from '../../protocol/index.js';
import type { SourceConnection } from '../types.js';

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
const pattern = z.string().min(1).max(256);

const extractionSchema = z
  .object({
    /** Glob patterns (`*`, `?`, case-insensitive) a resource's name must match one of; empty = all. */
    include: z.array(pattern).max(100).default([]),
    /** Glob patterns a resource's name must match none of. */
    exclude: z.array(pattern).max(100).default([]),
    /** Resource types to extract; empty = all. */
    resourceTypes: z.array(resourceType).default([]),
    /** Resource types to skip. */
    excludeResourceTypes: z.array(resourceType).default([]),
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
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  readonly resourceTypes: ReadonlySet<ResourceType>;
  readonly createdAfter?: Date;
  readonly modelTags: boolean;
  readonly pipelineExecutions: number;
}

function problems(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}

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

/** Compiles include/exclude glob patterns into one case-insensitive name test. */
export function nameFilter(
  include: readonly string[],
  exclude: readonly string[],
): (name: string) => boolean {
  const compile = (glob: string): RegExp =>
    new RegExp(
      `^${glob
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
      'i',
    );
  const includes = include.map(compile);
  const excludes = exclude.map(compile);
  return (name) =>
    (includes.length === 0 || includes.some((re) => re.test(name))) && !excludes.some((re) => re.test(name));
}
