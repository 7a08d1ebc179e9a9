import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/**
 * TCP connections this process holds open to `port` on loopback (client side, ESTABLISHED), read from
 * /proc: how a test sees that an adapter let go of its sockets, whatever client library it uses.
 */
export function openSocketsTo(port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const link = readlinkSync(`/proc/self/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(link);
      if (match) inodes.add(match[1] as string);
    } catch {
      // The descriptor closed while we looked.
    }
  }
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const remote = fields[2];
      const state = fields[3];
      const inode = fields[9];
      if (!remote || state !== '01' || !inode) continue;
      if (remote.endsWith(`:${portHex}`) && inodes.has(inode)) count += 1;
    }
  }
  return count;
}
