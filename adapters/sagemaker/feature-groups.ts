/** Feature Store: feature groups with every page of their feature definitions. */
import {
  DescribeFeatureGroupCommand,
  paginateListFeatureGroups,
  type DescribeFeatureGroupCommandOutput,
  type FeatureDefinition,
} from '@aws-sdk/client-sagemaker';
import type { MetadataRecord } from '../types.js';
import type { Crawl } from './crawl.js';
import * as R from './records.js';

export async function* featureGroups(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  for await (const page of crawl.list({
    action: 'sagemaker:ListFeatureGroups',
    what: 'feature groups',
    pages: paginateListFeatureGroups(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.FeatureGroupSummaries,
    name: (g) => g.FeatureGroupName,
    created: (g) => g.CreationTime,
  })) {
    yield* crawl.describePage(page, async (summary) => {
      const name = summary.FeatureGroupName!;
      // DescribeFeatureGroup pages its feature definitions; the first page is the Describe itself.
      // The SDK has no paginator for a Describe, so this one loop stays ours.
      const features: FeatureDefinition[] = [];
      let token: string | undefined;
      let group: DescribeFeatureGroupCommandOutput | undefined;
      do {
        const out = await crawl.describe('sagemaker:DescribeFeatureGroup', 'feature groups', name, () =>
          crawl.client.send(
            new DescribeFeatureGroupCommand({ FeatureGroupName: name, NextToken: token }),
            crawl.sendOptions,
          ),
        );
        if (!out) return [];
        group ??= out;
        features.push(...(out.FeatureDefinitions ?? []));
        token = out.NextToken || undefined;
      } while (token);
      if (!group.FeatureGroupArn) return [];
      const record = R.featureGroupRecord(group, features);
      const me = { type: R.Kinds.featureGroup, ref: group.FeatureGroupArn };
      const offline = record.offlineStore;
      const out: MetadataRecord[] = [record];
      if (offline.s3Uri)
        out.push(...crawl.edge(me, { type: 's3', ref: offline.s3Uri }, 'offline_store', me.ref));
      if (offline.glueTable?.table)
        out.push(
          ...crawl.edge(
            me,
            {
              type: 'glue_table',
              ref: `glue://${offline.glueTable.catalog ?? 'AwsDataCatalog'}/${offline.glueTable.database ?? ''}/${offline.glueTable.table}`,
            },
            'catalogued_as',
            me.ref,
          ),
        );
      return out;
    });
  }
}
