import type {
  DescribeEndpointConfigCommandOutput,
  SageMakerClient,
  SageMakerPaginationConfiguration,
} from '@aws-sdk/client-sagemaker';
import type { AdapterContext, MetadataRecord } from '../types.js';
import { isAccessDenied, isNotFound, toSdrError } from './client.js';
import { mapOrdered, throwIfAborted } from '../shared/index.js';
import { nameFilter, type SagemakerExtractOptions } from './options.js';
import * as R from './records.js';

/** The largest page every SageMaker List operation accepts. */
const PAGE = 100;

interface Denial {
  readonly what: string;
  count: number;
  example: string;
}

/** How one List operation is paged, filtered and named in warnings. */
export interface ListSpec<Page, Item> {
  /** The IAM action, e.g. `sagemaker:ListModels`, named in a denial warning. */
  readonly action: string;
  /** What the resource type is called in a warning ("models"). */
  readonly what: string;
  /** The SDK paginator, built with `crawl.pagination` and `crawl.sendOptions`. */
  readonly pages: AsyncGenerator<Page, undefined>;
  readonly items: (page: Page) => Item[] | undefined;
  readonly name: (item: Item) => string | undefined;
  readonly created: (item: Item) => Date | undefined;
  /** What makes an item unique across pages; its name unless said otherwise. */
  readonly identity?: (item: Item) => string | undefined;
  /** False when include/exclude patterns do not apply (lineage associations have no name). */
  readonly byName?: boolean;
}

/**
 * The state one extraction shares across resource families: the client, denials turned into
 * warnings at the end, edges already sent, and the few indexes lineage needs (models before the
 * jobs that produced them, configs before endpoints).
 */
export class Crawl {
  readonly client: SageMakerClient;
  readonly signal: AbortSignal;
  /** Paginator configuration: every List asks for the largest page. */
  readonly pagination: SageMakerPaginationConfiguration;
  /** Passed to every `send`, the paginators' included, so a cancelled job stops its requests. */
  readonly sendOptions: { readonly abortSignal: AbortSignal };
  readonly denials = new Map<string, Denial>();
  readonly edgesSent = new Set<string>();
  /** Model data URL → ARNs of the models serving it. */
  readonly modelsByDataUrl = new Map<string, string[]>();
  readonly modelArnByName = new Map<string, string>();
  /** Training job name → its ARN and model artifact, for tuning jobs and model packages. */
  readonly trainingJobs = new Map<string, { arn: string; artifact: string | undefined }>();
  readonly jobByArtifact = new Map<string, string>();
  /** Endpoint configs are read for their own records and again by endpoints: one Describe, shared. */
  readonly endpointConfigs = new Map<string, Promise<DescribeEndpointConfigCommandOutput | undefined>>();
  private readonly wanted: (name: string) => boolean;
  private arnPrefix: string | undefined;

  constructor(
    client: SageMakerClient,
    readonly connection: string,
    readonly options: SagemakerExtractOptions,
    readonly concurrency: number,
    readonly context: AdapterContext,
  ) {
    this.client = client;
    this.signal = context.signal;
    this.pagination = { client, pageSize: PAGE };
    this.sendOptions = { abortSignal: context.signal };
    // The connection's ceiling (limits.names) bounds whatever the request asked for.
    const requested = nameFilter(options.include, options.exclude);
    const ceiling = nameFilter(options.within ?? [], []);
    this.wanted = (name) => ceiling(name) && requested(name);
  }

  /** Warnings for every denied action, one per action. */
  denialWarnings(): string[] {
    return [...this.denials.values()].map((d) =>
      d.count === 0
        ? `${d.what}`
        : `${d.what} (${d.count} object${d.count === 1 ? '' : 's'} skipped, e.g. "${d.example}")`,
    );
  }

  private deny(action: string, what: string, example: string | undefined): void {
    const existing = this.denials.get(action);
    if (existing) {
      if (example !== undefined) existing.count += 1;
      return;
    }
    this.denials.set(action, { what, count: example === undefined ? 0 : 1, example: example ?? '' });
  }

  private checkAborted(): void {
    // The SDK rejects in-flight calls with its own "Request aborted"; the job's reason says more.
    throwIfAborted(this.signal);
  }

  private recentEnough(created: Date | undefined): boolean {
    const after = this.options.createdAfter;
    return after === undefined || created === undefined || created.getTime() > after.getTime();
  }

  /**
   * Pages a List operation to the end, yielding the wanted items of each page. A denied List is a
   * warning naming the IAM action and ends this resource type only.
   */
  async *list<Page, Item>(spec: ListSpec<Page, Item>): AsyncGenerator<Item[]> {
    const { action, what, pages, name, created, identity = name, byName = true } = spec;
    const seen = new Set<string>();
    try {
      for (;;) {
        this.checkAborted();
        let next: IteratorResult<Page, undefined>;
        try {
          next = await pages.next();
        } catch (error) {
          this.checkAborted();
          if (isAccessDenied(error)) {
            this.deny(action, `${action} was denied: ${what} were not extracted; grant ${action}`, undefined);
            return;
          }
          throw toSdrError(error, this.connection, action);
        }
        if (next.done === true) return;
        const items = (spec.items(next.value) ?? []).filter((item) => {
          const id = identity(item);
          // A page boundary shifting under concurrent writes can repeat an item; describe it once.
          if (id === undefined || seen.has(id) || !this.recentEnough(created(item))) return false;
          if (byName && !this.wanted(name(item) ?? id)) return false;
          seen.add(id);
          return true;
        });
        if (items.length > 0) yield items;
      }
    } finally {
      // A consumer that stops early (cancel, failure) leaves the paginator suspended; close it.
      await pages.return(undefined);
    }
  }

  /** One Describe; a denial is counted for one warning per action, a vanished object is skipped. */
  async describe<T>(
    action: string,
    what: string,
    name: string,
    call: () => Promise<T>,
  ): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      this.checkAborted();
      if (isAccessDenied(error)) {
        this.deny(action, `${action} was denied for ${what}; grant ${action}`, name);
        return undefined;
      }
      if (isNotFound(error)) {
        this.context.log.debug({ action, name }, 'sagemaker object vanished between List and Describe');
        return undefined;
      }
      throw toSdrError(error, this.connection, action);
    }
  }

  /** Emits `records` after a page's Describes, in list order, at most `concurrency` in flight. */
  async *describePage<S>(
    items: S[],
    describe: (item: S) => Promise<MetadataRecord[]>,
  ): AsyncGenerator<MetadataRecord> {
    for await (const records of mapOrdered(items, this.concurrency, describe)) yield* records;
  }

  /** An edge record, once per extraction. */
  *edge(
    from: R.EdgeEnd,
    to: R.EdgeEnd,
    relation: string,
    parent: string | undefined,
  ): Generator<MetadataRecord> {
    const record = R.edgeRecord(from, to, relation, 'derived', parent);
    if (this.edgesSent.has(record.key)) return;
    this.edgesSent.add(record.key);
    yield record;
  }

  learnArnPrefix(arn: string | undefined): void {
    if (this.arnPrefix === undefined && arn !== undefined) {
      const match = /^(arn:[^:]+:sagemaker:[^:]*:\d+:)/.exec(arn);
      if (match) this.arnPrefix = match[1];
    }
  }

  /** A model's ARN by name: known from this job, or built like SageMaker builds it (lower-cased name). */
  modelArn = (name: string): string => {
    if (name.startsWith('arn:')) return name;
    return (
      this.modelArnByName.get(name) ??
      `${this.arnPrefix ?? 'arn:aws:sagemaker:::'}model/${name.toLowerCase()}`
    );
  };

  modelPackageArn(nameOrArn: string): string {
    return nameOrArn.startsWith('arn:')
      ? nameOrArn
      : `${this.arnPrefix ?? 'arn:aws:sagemaker:::'}model-package/${nameOrArn.toLowerCase()}`;
  }

  modelsServing(urls: (string | undefined)[]): string[] {
    const out = new Set<string>();
    for (const url of urls) if (url) for (const arn of this.modelsByDataUrl.get(url) ?? []) out.add(arn);
    return [...out];
  }

  *jobEdges(
    kind: string,
    arn: string,
    inputs: string[],
    outputs: (string | null | undefined)[],
    produced: string[],
  ): Generator<MetadataRecord> {
    const job = { type: kind, ref: arn };
    for (const uri of inputs) yield* this.edge({ type: 's3', ref: uri }, job, 'input_to', arn);
    for (const uri of outputs) if (uri) yield* this.edge(job, { type: 's3', ref: uri }, 'wrote', arn);
    for (const model of produced) yield* this.edge(job, { type: R.Kinds.model, ref: model }, 'produced', arn);
  }
}
