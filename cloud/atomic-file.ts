import { randomBytes } from 'node:crypto';
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes `data` to `path` so that a reader (or a restart after a crash) sees either the old or the new
 * content, never a torn file: write a temporary sibling, fsync it, rename it over the target, fsync the
 * directory.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'w', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await fsyncDirectory(dirname(path));
}

/** Makes a rename or unlink inside `dir` durable; a no-op where directories cannot be opened (Windows). */
export async function fsyncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some platforms refuse to open or fsync a directory; durability is best effort there.
  } finally {
    await handle?.close();
  }
}

/** Reads and parses a JSON file; `undefined` when it does not exist. */
export async function readJsonFile(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Saves JSON documents atomically, at most one write per path in flight; saves that arrive while one is
 * queued replace its content, so a burst of updates (progress frames) costs one or two writes.
 */
export class JsonDocumentWriter {
  private readonly slots = new Map<string, { text: string; queued: boolean; done: Promise<void> }>();

  constructor(private readonly onError: (path: string, error: unknown) => void) {}

  /** Schedules `value` to be written to `path`; resolves once a write containing it is durable. Never rejects. */
  save(path: string, value: unknown, mode?: number): Promise<void> {
    const text = `${JSON.stringify(value, null, 2)}\n`;
    const current = this.slots.get(path);
    if (current?.queued) {
      current.text = text;
      return current.done;
    }
    const slot = { text, queued: true, done: Promise.resolve() };
    slot.done = (current?.done ?? Promise.resolve()).then(async () => {
      slot.queued = false;
      try {
        await writeFileAtomic(path, slot.text, mode);
      } catch (error) {
        this.onError(path, error);
      } finally {
        if (this.slots.get(path) === slot) this.slots.delete(path);
      }
    });
    this.slots.set(path, slot);
    return slot.done;
  }

  /** Resolves when every scheduled write has finished. */
  async flush(): Promise<void> {
    while (this.slots.size > 0) await Promise.all([...this.slots.values()].map((slot) => slot.done));
  }
}
