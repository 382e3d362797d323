/**
 * The topics zretry writes to (dead-letter, retry) must exist: created when
 * allowed, else a clear error naming the topic.
 */
import type { Logger } from 'pino';
import { TopicMissingError } from '../errors.js';
import { sleep } from '../util/sleep.js';
import { openAdmin, type Admin, type Kafka } from './client.js';

/** Partition counts of topics, looked up once and cached. */
export class TopicInfo {
  private readonly partitions = new Map<string, number>();

  constructor(
    private readonly admin: Admin,
    private readonly logger?: Logger,
  ) {}

  /**
   * Makes sure every topic exists. Missing ones are created with as many
   * partitions as their source topic when autoCreate is set; otherwise a
   * TopicMissingError names the first missing one.
   */
  async ensure(topics: ReadonlyArray<{ topic: string; like?: string }>, autoCreate: boolean): Promise<void> {
    const existing = new Set(await this.admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length === 0) return;
    if (!autoCreate) {
      throw new TopicMissingError(missing[0]!.topic, 'create it, or set autoCreateTopics: true (ZRETRY_AUTO_CREATE_TOPICS=1) to let zretry create it');
    }
    const specs = await Promise.all(
      missing.map(async (t) => {
        const like = t.like && existing.has(t.like) ? t.like : undefined;
        // a dead letter is its record plus headers: the DLT takes records as large as its source does
        const maxBytes = like ? await this.maxMessageBytes(like) : undefined;
        return {
          topic: t.topic,
          numPartitions: like ? await this.partitionCount(like) : 1,
          ...(maxBytes ? { configEntries: [{ name: 'max.message.bytes', value: maxBytes }] } : {}),
        };
      }),
    );
    await this.admin.createTopics({ topics: specs, waitForLeaders: true });
    for (const t of missing) this.partitions.delete(t.topic);
  }

  /**
   * Makes sure one topic exists, for writers that learn their topics from
   * their tasks (a standalone worker): created like `like` when allowed, else
   * a TopicMissingError. Returns its partition count (cached once known).
   */
  async ensureOne(topic: string, like: string, autoCreate: boolean): Promise<number> {
    let n = await this.partitionCount(topic);
    if (n > 0) return n;
    await this.ensure([{ topic, like }], autoCreate);
    // metadata can lag a creation by a moment: wait for it, so records keep their partition
    for (let i = 0; i < 20 && (n = await this.partitionCount(topic)) === 0; i++) await sleep(100);
    return n;
  }

  /** The source topic's max.message.bytes plus room for zretry's headers, or undefined if it cannot be read. */
  private async maxMessageBytes(topic: string): Promise<string | undefined> {
    if (!this.admin.describeConfigs) {
      this.logger?.warn(
        { topic },
        "this Kafka client cannot read topic configurations (Confluent's admin API has no describeConfigs): a dead-letter or retry topic zretry creates gets the broker's default max.message.bytes, not its source topic's; raise it by hand if the source takes larger records",
      );
      return undefined;
    }
    try {
      const r = await this.admin.describeConfigs({ resources: [{ type: 2 /* TOPIC */, name: topic, configNames: ['max.message.bytes'] }], includeSynonyms: false });
      const v = Number(r.resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
      return Number.isFinite(v) && v > 0 ? String(v + 64 * 1024) : undefined;
    } catch {
      return undefined;
    }
  }

  /** How many partitions a topic has (cached). */
  async partitionCount(topic: string): Promise<number> {
    const known = this.partitions.get(topic);
    if (known !== undefined) return known;
    let md: Awaited<ReturnType<Admin['fetchTopicMetadata']>>;
    try {
      md = await this.admin.fetchTopicMetadata({ topics: [topic] });
    } catch (e) {
      // kafkajs's name for it, and librdkafka's (Confluent's client)
      const type = (e as { type?: string }).type;
      if (type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'ERR_UNKNOWN_TOPIC_OR_PART') return 0;
      throw e;
    }
    const n = md.topics[0]?.partitions.length ?? 0;
    if (n > 0) this.partitions.set(topic, n);
    return n;
  }
}

/**
 * The source topics of consume(): names as given, and each pattern matched
 * against the topics that exist now (kafkajs matches patterns once, at
 * subscribe time, too). Topics ending in one of zretry's own suffixes
 * (dead-letter, retry) never match a pattern: the consumer must not read
 * its own dead letters as fresh records.
 */
export async function resolveTopics(kafka: Kafka, topics: ReadonlyArray<string | RegExp>, ownSuffixes: readonly string[], logger: Logger): Promise<string[]> {
  const names = topics.filter((t): t is string => typeof t === 'string');
  const patterns = topics.filter((t): t is RegExp => t instanceof RegExp);
  if (patterns.length === 0) return names;
  const admin = openAdmin(kafka);
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    const own = (t: string) => t.startsWith('__') || ownSuffixes.some((s) => t.endsWith(s));
    for (const p of patterns) {
      const matched = existing.filter((t) => !own(t) && new RegExp(p.source, p.flags.replace('g', '')).test(t));
      if (matched.length === 0) logger.warn({ pattern: String(p) }, 'no topic matches this pattern now; it is not watched for topics created later');
      names.push(...matched);
    }
  } finally {
    await admin.disconnect();
  }
  return [...new Set(names)];
}
