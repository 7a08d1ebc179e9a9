import type { AdapterContext, MetadataRecord } from '../types.js';
import type { SagemakerSession } from './client.js';
import { Crawl } from './crawl.js';
import { endpointConfigs, endpoints } from './endpoints.js';
import { featureGroups } from './feature-groups.js';
import { autoMLJobs, processingJobs, trainingJobs, transformJobs, tuningJobs } from './jobs.js';
import { lineage } from './lineage.js';
import { modelPackageGroups, modelPackages, models } from './models.js';
import type { ResourceType, SagemakerExtractOptions } from './options.js';
import { pipelines } from './pipelines.js';

/**
 * Resource types in an order that lets later objects link to earlier ones (models before the jobs
 * that produced them, configs before endpoints); each object is described once.
 */
const STEPS: readonly (readonly [ResourceType, (crawl: Crawl) => AsyncGenerator<MetadataRecord>])[] = [
  ['models', models],
  ['trainingJobs', trainingJobs],
  ['hyperParameterTuningJobs', tuningJobs],
  ['autoMLJobs', autoMLJobs],
  ['processingJobs', processingJobs],
  ['transformJobs', transformJobs],
  ['modelPackageGroups', modelPackageGroups],
  ['modelPackages', modelPackages],
  ['endpointConfigs', endpointConfigs],
  ['endpoints', endpoints],
  ['featureGroups', featureGroups],
  ['pipelines', pipelines],
  ['lineage', lineage],
];

/** One extraction over one account and region. */
export class Extraction {
  private readonly crawl: Crawl;
  private emitted = 0;

  constructor(
    private readonly session: SagemakerSession,
    connection: string,
    private readonly options: SagemakerExtractOptions,
    concurrency: number,
    private readonly context: AdapterContext,
  ) {
    this.crawl = new Crawl(session.client, connection, options, concurrency, context);
  }

  /** Streams every wanted record; warnings for denied actions go to `context.warn` at the end. */
  async *run(): AsyncGenerator<MetadataRecord> {
    const started = performance.now();
    for (const [type, step] of STEPS) {
      if (!this.options.resourceTypes.has(type)) continue;
      for await (const record of step(this.crawl)) {
        this.emitted += 1;
        yield record;
      }
    }
    for (const warning of this.crawl.denialWarnings()) this.context.warn(warning);
    const { stats } = this.session;
    this.context.log.info(
      {
        records: this.emitted,
        requests: stats.total,
        throttled: stats.throttled,
        byOperation: Object.fromEntries(stats.byOperation),
        ms: Math.round(performance.now() - started),
      },
      'sagemaker extraction finished',
    );
  }
}
