/**
 * A Kafka broker of a test's own (KRaft, one node, from the jars that
 * `scripts/services` fetched), on free ports, that the test may kill and
 * restart without disturbing the shared broker other test files use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort } from './redis-process.js';

const LIBS = resolve(process.env.ZRETRY_CACHE_DIR ?? resolve(import.meta.dirname, '../../.cache'), 'kafka-4.1.1/libs');

export interface OwnKafka {
  brokers: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the broker (again, on the same data and ports) and waits until it answers. */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function ownKafka(): Promise<OwnKafka> {
  if (!existsSync(join(LIBS, '.complete'))) throw new Error(`Kafka jars not found in ${LIBS}: run scripts/services up kafka first`);
  const dir = mkdtempSync(join(tmpdir(), 'zretry-kafka-'));
  mkdirSync(join(dir, 'data'));
  const port = await freePort();
  let cport = await freePort();
  while (cport === port) cport = await freePort();
  writeFileSync(join(dir, 'log4j2.properties'), `status = warn\nappender.file.type = File\nappender.file.name = file\nappender.file.fileName = ${dir}/server.log\nappender.file.layout.type = PatternLayout\nappender.file.layout.pattern = [%d] %p %m (%c)%n\nrootLogger.level = WARN\nrootLogger.appenderRef.file.ref = file\n`);
  writeFileSync(
    join(dir, 'server.properties'),
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${cport}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${dir}/data`,
      'num.partitions=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=4',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
    ].join('\n') + '\n',
  );
  const cp = `${LIBS}/*`;
  const l4j = `-Dlog4j2.configurationFile=${dir}/log4j2.properties`;
  const id = execFileSync('java', ['-cp', cp, l4j, 'kafka.tools.StorageTool', 'random-uuid'], { encoding: 'utf8' }).trim().split('\n').at(-1)!;
  execFileSync('java', ['-cp', cp, l4j, 'kafka.tools.StorageTool', 'format', '-t', id, '-c', join(dir, 'server.properties')], { stdio: 'ignore' });
  let proc: ChildProcess | null = null;
  const brokers = `127.0.0.1:${port}`;
  const handle: OwnKafka = {
    brokers,
    async start() {
      proc = spawn('java', ['-Xmx384m', '-Xms384m', '-XX:+UseSerialGC', '-cp', cp, l4j, 'kafka.Kafka', join(dir, 'server.properties')], { stdio: 'ignore' });
      await promisify(execFile)('node', [resolve(import.meta.dirname, '../../scripts/wait-kafka.mjs'), brokers, '90000']);
    },
    async kill(signal = 'SIGKILL') {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill(signal);
      await exited;
    },
    async cleanup() {
      await handle.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await handle.start();
  return handle;
}
