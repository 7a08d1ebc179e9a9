/** Pipelines with their most recent executions. */
import {
  DescribePipelineCommand,
  ListPipelineExecutionsCommand,
  paginateListPipelines,
  type PipelineExecutionSummary,
} from '@aws-sdk/client-sagemaker';
import type { MetadataRecord } from '../types.js';
import type { Crawl } from './crawl.js';
import * as R from './records.js';

export async function* pipelines(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  const recent = crawl.options.pipelineExecutions;
  for await (const page of crawl.list({
    action: 'sagemaker:ListPipelines',
    what: 'pipelines',
    pages: paginateListPipelines(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.PipelineSummaries,
    name: (p) => p.PipelineName,
    created: (p) => p.CreationTime,
  })) {
    yield* crawl.describePage(page, async (summary) => {
      const name = summary.PipelineName!;
      const pipeline = await crawl.describe('sagemaker:DescribePipeline', 'pipelines', name, () =>
        crawl.client.send(new DescribePipelineCommand({ PipelineName: name }), crawl.sendOptions),
      );
      if (!pipeline) return [];
      let executions: PipelineExecutionSummary[] | null = null;
      if (recent > 0) {
        // Only the most recent executions: one page, newest first, so no paginator.
        const out = await crawl.describe(
          'sagemaker:ListPipelineExecutions',
          'pipeline executions (pipelines were emitted without recentExecutions)',
          name,
          () =>
            crawl.client.send(
              new ListPipelineExecutionsCommand({
                PipelineName: name,
                SortBy: 'CreationTime',
                SortOrder: 'Descending',
                MaxResults: recent,
              }),
              crawl.sendOptions,
            ),
        );
        executions = out ? (out.PipelineExecutionSummaries ?? []).slice(0, recent) : null;
      }
      return [R.pipelineRecord(pipeline, executions)];
    });
  }
}
