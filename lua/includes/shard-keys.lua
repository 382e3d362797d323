-- Every script of a shard takes the same eleven keys, in this order, all under
-- the shard's hash tag {<namespace>:<shard>}:
--   KEYS[1] due       ZSET  task id -> due time (ms)
--   KEYS[2] inflight  ZSET  task id -> lease deadline (ms)
--   KEYS[3] meta      HASH  task id -> msgpack metadata (see meta.lua)
--   KEYS[4] rec       HASH  task id -> the Kafka record, opaque client bytes
--   KEYS[5] aggs      HASH  aggregate id -> id of its head task ('' = held)
--   KEYS[6] waiting   ZSET  tasks waiting behind their head (see waiting.lua)
--   KEYS[7] seq       STRING counter for fencing tokens and queue order
--   KEYS[8] dead      ZSET  task id -> time it died (kept dead tasks only)
--   KEYS[9] pauses    HASH  dispatch pauses: 'all', 'topic:<t>', 'error:<class>' -> since (ms)
--   KEYS[10] paused   ZSET  task id -> due time, for due tasks a pause holds back
--   KEYS[11] shifting ZSET  task id -> new due time, while an operator shift runs
local function shardKeys(channel)
  return {
    due = KEYS[1], inflight = KEYS[2], meta = KEYS[3], rec = KEYS[4],
    aggs = KEYS[5], waiting = KEYS[6], seq = KEYS[7], dead = KEYS[8],
    pauses = KEYS[9], paused = KEYS[10], shifting = KEYS[11],
    channel = channel or '',
  }
end
