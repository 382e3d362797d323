// A handler module for `zretry worker --handler examples/log-handler.js`:
// logs each retried record's coordinates (never its payload) and succeeds.
export default async function handler(record, ctx) {
  console.log(JSON.stringify({ topic: record.topic, partition: record.partition, offset: record.message.offset, attempt: ctx.attempt }));
}
