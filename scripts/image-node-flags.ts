/**
 * The node flags the container image runs the runtime with, read from the Dockerfile itself, so a
 * benchmark of "the runtime as the image runs it" cannot drift from the image: the runtime stage's
 * `NODE_OPTIONS` and the flags its `ENTRYPOINT` gives node before the script.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dockerfile = fileURLToPath(new URL('../Dockerfile', import.meta.url));

export interface ImageNodeFlags {
  /** The image's `NODE_OPTIONS` (empty when it sets none). */
  nodeOptions: string;
  /** Flags between `node` and the script in the image's `ENTRYPOINT`. */
  nodeArgs: string[];
}

export function imageNodeFlags(text = readFileSync(dockerfile, 'utf8')): ImageNodeFlags {
  // The last stage is the image; build stages may set their own.
  const stages = text.split(/^FROM\s/m);
  const image = stages[stages.length - 1] ?? '';
  const nodeOptions =
    /^\s*(?:ENV\s+)?NODE_OPTIONS=("[^"]*"|\S+)/m.exec(image)?.[1]?.replace(/^"|"$/g, '') ?? '';
  const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(image)?.[1];
  if (!entrypoint) throw new Error(`${dockerfile}: the image stage has no exec-form ENTRYPOINT`);
  const argv = JSON.parse(entrypoint) as string[];
  if (argv[0] !== 'node') throw new Error(`${dockerfile}: the ENTRYPOINT does not run node: ${entrypoint}`);
  const script = argv.findIndex((arg, index) => index > 0 && !arg.startsWith('-'));
  return { nodeOptions, nodeArgs: argv.slice(1, script < 0 ? undefined : script) };
}
