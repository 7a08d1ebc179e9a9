/**
 * Turns CustomResourceDefinition YAML files into the JSON schemas kubeconform reads, one per served
 * version, at OUT/<group>/<kind>_<version>.json (lower-case kind): the same layout and strictness as the
 * openapi2jsonschema script kubeconform documents, so a misspelt field fails validation.
 *
 *   tsx scripts/crd-to-json-schema.ts OUT crd.yaml...
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';

type Schema = { [key: string]: unknown };

interface Crd {
  kind?: string;
  spec?: {
    group: string;
    names: { kind: string };
    versions: { name: string; served?: boolean; schema?: { openAPIV3Schema?: Schema } }[];
  };
}

/** Objects that list their properties admit no others, unless Kubernetes keeps unknown fields there. */
function strict(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strict);
  if (node === null || typeof node !== 'object') return node;
  const schema: Schema = {};
  for (const [key, value] of Object.entries(node)) schema[key] = strict(value);
  if (
    schema.properties !== undefined &&
    schema.additionalProperties === undefined &&
    schema['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    schema.additionalProperties = false;
  }
  // An int-or-string field is written as either in manifests (e.g. a threshold of 5 or "5").
  if (schema['x-kubernetes-int-or-string'] === true) {
    delete schema.type;
    schema.oneOf = [{ type: 'string' }, { type: 'integer' }];
  }
  return schema;
}

const [out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) {
  process.stderr.write('usage: crd-to-json-schema.ts OUT_DIR CRD.yaml...\n');
  process.exit(2);
}
let written = 0;
for (const file of files) {
  for (const document of YAML.parseAllDocuments(readFileSync(file, 'utf8'))) {
    const crd = document.toJS() as Crd | null;
    if (crd?.kind !== 'CustomResourceDefinition' || !crd.spec) continue;
    const dir = join(out, crd.spec.group);
    mkdirSync(dir, { recursive: true });
    for (const version of crd.spec.versions) {
      const schema = version.schema?.openAPIV3Schema;
      if (!schema || version.served === false) continue;
      const name = `${crd.spec.names.kind.toLowerCase()}_${version.name}.json`;
      writeFileSync(join(dir, name), JSON.stringify(strict(schema), null, 2));
      written++;
    }
  }
}
if (written === 0) {
  process.stderr.write(`no CustomResourceDefinition with a schema in ${files.join(', ')}\n`);
  process.exit(1);
}
process.stdout.write(`${written} schema(s) written under ${out}\n`);
