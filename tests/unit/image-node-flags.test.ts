import { describe, expect, it } from 'vitest';
import { imageNodeFlags } from '../../scripts/image-node-flags.js';

describe('the image node flags the benchmarks run the runtime with', () => {
  it('are the image stage’s NODE_OPTIONS and the flags its ENTRYPOINT gives node', () => {
    expect(imageNodeFlags()).toEqual({
      nodeOptions: '--max-old-space-size=128',
      nodeArgs: ['--max-semi-space-size=2'],
    });
  });

  it('ignore a build stage’s settings and read a quoted NODE_OPTIONS', () => {
    const dockerfile = [
      'FROM node:22 AS build',
      'ENV NODE_OPTIONS=--max-old-space-size=4096',
      'ENTRYPOINT ["node", "--inspect", "build.js"]',
      'FROM scratch AS runtime',
      'ENV PATH=/usr/local/bin \\',
      '    NODE_OPTIONS="--max-old-space-size=96 --enable-source-maps" \\',
      '    NODE_ENV=production',
      'ENTRYPOINT ["node", "dist/runtime/cli.js"]',
    ].join('\n');
    expect(imageNodeFlags(dockerfile)).toEqual({
      nodeOptions: '--max-old-space-size=96 --enable-source-maps',
      nodeArgs: [],
    });
  });
});
