/** Lineage entities (artifacts, contexts, actions) and their associations, straight from the List calls. */
import {
  paginateListActions,
  paginateListArtifacts,
  paginateListAssociations,
  paginateListContexts,
} from '@aws-sdk/client-sagemaker';
import type { MetadataRecord } from '../types.js';
import type { Crawl } from './crawl.js';
import * as R from './records.js';

export async function* lineage(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  for await (const page of crawl.list({
    action: 'sagemaker:ListArtifacts',
    what: 'lineage artifacts',
    pages: paginateListArtifacts(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.ArtifactSummaries,
    name: (a) => a.ArtifactName ?? a.ArtifactArn,
    created: (a) => a.CreationTime,
  }))
    for (const a of page) yield R.artifactRecord(a);

  for await (const page of crawl.list({
    action: 'sagemaker:ListContexts',
    what: 'lineage contexts',
    pages: paginateListContexts(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.ContextSummaries,
    name: (c) => c.ContextName,
    created: (c) => c.CreationTime,
  }))
    for (const c of page) yield R.contextRecord(c);

  for await (const page of crawl.list({
    action: 'sagemaker:ListActions',
    what: 'lineage actions',
    pages: paginateListActions(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.ActionSummaries,
    name: (a) => a.ActionName,
    created: (a) => a.CreationTime,
  }))
    for (const a of page) yield R.actionRecord(a);

  // Associations have no name of their own: include/exclude patterns apply to the entities only.
  for await (const page of crawl.list({
    action: 'sagemaker:ListAssociations',
    what: 'lineage associations',
    pages: paginateListAssociations(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.AssociationSummaries,
    name: (a) => `${a.SourceArn} ${a.AssociationType} ${a.DestinationArn}`,
    created: (a) => a.CreationTime,
    byName: false,
  }))
    for (const a of page) {
      const edge = R.associationEdge(a);
      if (edge && !crawl.edgesSent.has(edge.key)) {
        crawl.edgesSent.add(edge.key);
        yield edge;
      }
    }
}
