// Waits until a Kafka broker answers an admin call: node wait-kafka.mjs <brokers> [timeoutMs]
import kafkajs from 'kafkajs';

const [brokers = '127.0.0.1:9092', timeout = '60000'] = process.argv.slice(2);
const end = Date.now() + Number(timeout);
const kafka = new kafkajs.Kafka({ clientId: 'zretry-wait', brokers: brokers.split(','), logLevel: kafkajs.logLevel.NOTHING, retry: { retries: 0 } });
for (;;) {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    await admin.disconnect();
    process.exit(0);
  } catch {
    await admin.disconnect().catch(() => {});
    if (Date.now() > end) process.exit(1);
    await new Promise((r) => setTimeout(r, 250));
  }
}
