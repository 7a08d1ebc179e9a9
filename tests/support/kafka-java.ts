/**
 * Kafka's own Java client and CLI tools for tests (tests/peers/kafka-clients.sh fetches them): live consumer
 * fleets written with kafka-clients, and the kafka-topics / kafka-consumer-groups / kafka-configs commands.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);

/** A small JVM: the machine is shared, and a fleet or a CLI call needs little. */
const JVM_FLAGS = ['-Xms32m', '-Xmx192m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto'];

const javaSources = join(repo, 'tests/peers/java');
let classpath: string | undefined;

/**
 * The jars of the peer script (fetched once, cached) and tests/peers/java compiled beside them, as a java
 * `-cp`. The classes are compiled once per version of the sources: launching a .java file compiles it at
 * every start, about two seconds of CPU.
 */
export function kafkaClasspath(): string {
  if (classpath) return classpath;
  const libs = execFileSync('bash', [join(repo, 'tests/peers/kafka-clients.sh')], {
    encoding: 'utf8',
    timeout: 15 * 60_000,
  }).trim();
  const sources = readdirSync(javaSources)
    .filter((name) => name.endsWith('.java'))
    .sort()
    .map((name) => join(javaSources, name));
  const hash = createHash('sha256');
  for (const file of sources) hash.update(readFileSync(file));
  const classes = join(dirname(libs), `classes-${hash.digest('hex').slice(0, 16)}`);
  if (!existsSync(classes)) {
    // Compiled aside and renamed into place (beside it, so the rename never crosses file systems):
    // parallel test workers may race to do it, and the loser's rename fails on the winner's directory.
    const scratch = mkdtempSync(`${classes}.tmp-`);
    execFileSync('javac', ['-nowarn', '-cp', `${libs}/*`, '-d', scratch, ...sources], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 5 * 60_000,
    });
    try {
      renameSync(scratch, classes);
    } catch (error) {
      rmSync(scratch, { recursive: true, force: true });
      if (!existsSync(classes)) throw error;
    }
  }
  classpath = `${classes}:${libs}/*`;
  return classpath;
}

/** One consumer of a fleet; see tests/peers/java/ConsumerFleet.java for the keys. */
export interface JavaConsumerSpec {
  group: string;
  topics: string[];
  client: string;
  assignor?: 'range' | 'roundrobin' | 'sticky' | 'cooperative-sticky';
  protocol?: 'classic' | 'consumer';
  instance?: string;
  limit?: number;
}

/** A running JVM of live consumers; `stop` closes them (each leaves its group) within a deadline. */
export interface ConsumerFleet {
  readonly pid: number;
  /** What the JVM printed so far (a consumer that died says why here). */
  output(): string;
  stop(): Promise<void>;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts the consumers in one JVM and resolves once every one of them exists (not yet joined). */
export async function startConsumerFleet(
  bootstrap: string,
  specs: JavaConsumerSpec[],
  startMs = 120_000,
): Promise<ConsumerFleet> {
  const args = specs.map((s) =>
    Object.entries({ ...s, topics: s.topics.join(';') })
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(','),
  );
  const child = spawn('java', [...JVM_FLAGS, '-cp', kafkaClasspath(), 'ConsumerFleet', bootstrap, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const stop = async () => {
    child.stdin?.end();
    if (await waitExit(child, 30_000)) return;
    child.kill('SIGTERM');
    if (await waitExit(child, 10_000)) return;
    child.kill('SIGKILL');
    await waitExit(child, 5_000);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`consumer fleet did not start in ${startMs} ms: ${output}`)),
        startMs,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/STARTED \d+/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`consumer fleet exited with ${String(code)}: ${output}`));
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { pid: child.pid ?? -1, output: () => output, stop };
}

/**
 * Runs Kafka's CLI tools (main class and arguments each) one after another in one JVM
 * (tests/peers/java/ToolBatch.java) and returns each one's stdout.
 */
export async function kafkaTools<const Calls extends readonly (readonly [string, readonly string[]])[]>(
  calls: Calls,
  timeoutMs = 180_000,
): Promise<{ [K in keyof Calls]: string }> {
  const outDir = mkdtempSync(join(tmpdir(), 'sdr-kafka-tools-'));
  try {
    const batch = calls.flatMap(([mainClass, args], i) => [...(i ? ['::next::'] : []), mainClass, ...args]);
    const jvm = await run('java', [...JVM_FLAGS, '-cp', kafkaClasspath(), 'ToolBatch', outDir, ...batch], {
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return calls.map(([mainClass, args], i) => {
      const command = `${mainClass} ${args.join(' ')}`;
      const read = (suffix: string) => {
        const file = join(outDir, `${i}.${suffix}`);
        if (!existsSync(file))
          throw new Error(
            `${command}: the tool batch ended before this call; the JVM said: ${jvm.stderr.trim()}`,
          );
        return readFileSync(file, 'utf8');
      };
      const status = Number(read('status'));
      // Some tools (kafka-consumer-groups among them) print "Error: ..." and still exit 0.
      const failure = /^Error: .*$/m.exec(read('err'));
      if (failure) throw new Error(`${command}: ${failure[0]}`);
      if (status !== 0) throw new Error(`${command} exited with ${status}: ${read('err').trim()}`);
      return read('out');
    }) as { [K in keyof Calls]: string };
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

/** Main classes of the scripts in Kafka's bin/ directory. */
export const KafkaTools = {
  topics: 'org.apache.kafka.tools.TopicCommand',
  consumerGroups: 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
  configs: 'kafka.admin.ConfigCommand',
  getOffsetShell: 'org.apache.kafka.tools.GetOffsetShell',
  logDirs: 'org.apache.kafka.tools.LogDirsCommand',
} as const;

/** Rows of a whitespace-aligned table the CLI prints (a header line, then rows), as header → cell maps. */
export function parseTables(text: string): Record<string, string>[] {
  const rows: Record<string, string>[] = [];
  let header: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      header = undefined;
      continue;
    }
    const cells = line.trim().split(/\s+/);
    if (cells[0] === 'GROUP') {
      header = cells;
      continue;
    }
    if (!header) continue;
    // Empty cells never occur: the tool prints "-" for a missing value.
    rows.push(Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ''])));
  }
  return rows;
}
