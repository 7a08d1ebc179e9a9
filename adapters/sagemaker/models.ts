/** Models and the model registry (package groups and packages). */
import {
  DescribeModelCommand,
  DescribeModelPackageCommand,
  DescribeModelPackageGroupCommand,
  paginateListModelPackageGroups,
  paginateListModelPackages,
  paginateListModels,
  paginateListTags,
  type DescribeModelCommandOutput,
  type Tag,
} from '@aws-sdk/client-sagemaker';
import type { MetadataRecord } from '../types.js';
import type { Crawl } from './crawl.js';
import * as R from './records.js';

export async function* models(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  for await (const page of crawl.list({
    action: 'sagemaker:ListModels',
    what: 'models',
    pages: paginateListModels(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.Models,
    name: (m) => m.ModelName,
    created: (m) => m.CreationTime,
  })) {
    yield* crawl.describePage(page, async (summary) => {
      const name = summary.ModelName!;
      const model = await crawl.describe('sagemaker:DescribeModel', 'models', name, () =>
        crawl.client.send(new DescribeModelCommand({ ModelName: name }), crawl.sendOptions),
      );
      if (!model) return [];
      const tags =
        crawl.options.modelTags && model.ModelArn ? await modelTags(crawl, model.ModelArn, name) : undefined;
      return modelRecords(crawl, model, tags);
    });
  }
}

async function modelTags(crawl: Crawl, arn: string, name: string): Promise<Tag[] | undefined> {
  return crawl.describe(
    'sagemaker:ListTags',
    'model tags (models were emitted with tags: null)',
    name,
    async () => {
      const tags: Tag[] = [];
      for await (const out of paginateListTags(crawl.pagination, { ResourceArn: arn }, crawl.sendOptions))
        tags.push(...(out.Tags ?? []));
      return tags;
    },
  );
}

function modelRecords(
  crawl: Crawl,
  model: DescribeModelCommandOutput,
  tags: Tag[] | undefined,
): MetadataRecord[] {
  const record = R.modelRecord(model, tags);
  const arn = record.key;
  crawl.learnArnPrefix(model.ModelArn);
  if (model.ModelName) crawl.modelArnByName.set(model.ModelName, arn);
  const out: MetadataRecord[] = [record];
  for (const container of R.modelContainers(model)) {
    for (const url of R.containerDataUrls(container)) {
      const list = crawl.modelsByDataUrl.get(url) ?? [];
      list.push(arn);
      crawl.modelsByDataUrl.set(url, list);
    }
    if (container.ModelPackageName) {
      const pkg = crawl.modelPackageArn(container.ModelPackageName);
      out.push(
        ...crawl.edge(
          { type: R.Kinds.modelPackage, ref: pkg },
          { type: R.Kinds.model, ref: arn },
          'deployed_as',
          arn,
        ),
      );
    }
  }
  return out;
}

export async function* modelPackageGroups(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  for await (const page of crawl.list({
    action: 'sagemaker:ListModelPackageGroups',
    what: 'model package groups',
    pages: paginateListModelPackageGroups(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.ModelPackageGroupSummaryList,
    name: (g) => g.ModelPackageGroupName,
    created: (g) => g.CreationTime,
  })) {
    yield* crawl.describePage(page, async (summary) => {
      const name = summary.ModelPackageGroupName!;
      const group = await crawl.describe(
        'sagemaker:DescribeModelPackageGroup',
        'model package groups',
        name,
        () =>
          crawl.client.send(
            new DescribeModelPackageGroupCommand({ ModelPackageGroupName: name }),
            crawl.sendOptions,
          ),
      );
      return group ? [R.modelPackageGroupRecord(group)] : [];
    });
  }
}

export async function* modelPackages(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  // One listing of every package, versioned and unversioned, instead of one listing per group.
  for await (const page of crawl.list({
    action: 'sagemaker:ListModelPackages',
    what: 'model packages',
    pages: paginateListModelPackages(crawl.pagination, { ModelPackageType: 'Both' }, crawl.sendOptions),
    items: (out) => out.ModelPackageSummaryList,
    // Versioned packages are named after their group; patterns match the group's name.
    name: (p) => p.ModelPackageGroupName ?? p.ModelPackageName,
    created: (p) => p.CreationTime,
    identity: (p) => p.ModelPackageArn,
  })) {
    yield* crawl.describePage(page, async (summary) => {
      const arn = summary.ModelPackageArn!;
      const pkg = await crawl.describe('sagemaker:DescribeModelPackage', 'model packages', arn, () =>
        crawl.client.send(new DescribeModelPackageCommand({ ModelPackageName: arn }), crawl.sendOptions),
      );
      if (!pkg?.ModelPackageArn) return [];
      crawl.learnArnPrefix(pkg.ModelPackageArn);
      const groupArn = pkg.ModelPackageGroupName
        ? pkg.ModelPackageArn.replace(
            /:model-package\/.*$/,
            `:model-package-group/${pkg.ModelPackageGroupName.toLowerCase()}`,
          )
        : null;
      const record = R.modelPackageRecord(pkg, groupArn);
      const me = { type: R.Kinds.modelPackage, ref: pkg.ModelPackageArn };
      const urls = (pkg.InferenceSpecification?.Containers ?? []).flatMap(R.containerDataUrls);
      const out: MetadataRecord[] = [record];
      for (const model of crawl.modelsServing(urls))
        out.push(
          ...crawl.edge({ type: R.Kinds.model, ref: model }, me, 'registered_as', pkg.ModelPackageArn),
        );
      for (const url of urls) {
        const job = crawl.jobByArtifact.get(url);
        if (job)
          out.push(
            ...crawl.edge({ type: R.Kinds.trainingJob, ref: job }, me, 'produced', pkg.ModelPackageArn),
          );
      }
      return out;
    });
  }
}
