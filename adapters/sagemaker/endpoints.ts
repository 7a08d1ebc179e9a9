/** Hosting: endpoint configs and endpoints. */
import {
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  paginateListEndpointConfigs,
  paginateListEndpoints,
  type DescribeEndpointConfigCommandOutput,
} from '@aws-sdk/client-sagemaker';
import type { MetadataRecord } from '../types.js';
import type { Crawl } from './crawl.js';
import * as R from './records.js';

/** One Describe per config name, shared by the config's own record and the endpoints using it. */
function endpointConfig(
  crawl: Crawl,
  name: string,
): Promise<DescribeEndpointConfigCommandOutput | undefined> {
  let pending = crawl.endpointConfigs.get(name);
  if (!pending) {
    pending = crawl.describe('sagemaker:DescribeEndpointConfig', 'endpoint configs', name, () =>
      crawl.client.send(new DescribeEndpointConfigCommand({ EndpointConfigName: name }), crawl.sendOptions),
    );
    crawl.endpointConfigs.set(name, pending);
  }
  return pending;
}

export async function* endpointConfigs(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  for await (const page of crawl.list({
    action: 'sagemaker:ListEndpointConfigs',
    what: 'endpoint configs',
    pages: paginateListEndpointConfigs(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.EndpointConfigs,
    name: (c) => c.EndpointConfigName,
    created: (c) => c.CreationTime,
  })) {
    yield* crawl.describePage(page, async (summary) => {
      const config = await endpointConfig(crawl, summary.EndpointConfigName!);
      if (!config) return [];
      crawl.learnArnPrefix(config.EndpointConfigArn);
      return [R.endpointConfigRecord(config, crawl.modelArn)];
    });
  }
}

export async function* endpoints(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  for await (const page of crawl.list({
    action: 'sagemaker:ListEndpoints',
    what: 'endpoints',
    pages: paginateListEndpoints(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.Endpoints,
    name: (e) => e.EndpointName,
    created: (e) => e.CreationTime,
  })) {
    yield* crawl.describePage(page, async (summary) => {
      const name = summary.EndpointName!;
      const endpoint = await crawl.describe('sagemaker:DescribeEndpoint', 'endpoints', name, () =>
        crawl.client.send(new DescribeEndpointCommand({ EndpointName: name }), crawl.sendOptions),
      );
      if (!endpoint?.EndpointArn) return [];
      crawl.learnArnPrefix(endpoint.EndpointArn);
      const config = endpoint.EndpointConfigName
        ? await endpointConfig(crawl, endpoint.EndpointConfigName)
        : undefined;
      const record = R.endpointRecord(endpoint, config, crawl.modelArn);
      const me = { type: R.Kinds.endpoint, ref: endpoint.EndpointArn };
      const out: MetadataRecord[] = [record];
      for (const variant of record.productionVariants)
        if (variant.modelArn)
          out.push(
            ...crawl.edge(
              { type: R.Kinds.model, ref: variant.modelArn },
              me,
              'deployed_to',
              endpoint.EndpointArn,
            ),
          );
      const capture = record.dataCapture?.destinationS3Uri;
      if (capture)
        out.push(...crawl.edge(me, { type: 's3', ref: capture }, 'captures_to', endpoint.EndpointArn));
      return out;
    });
  }
}
