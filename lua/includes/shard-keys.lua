-- Every script of a shard takes the same ten keys, in this order, all under
-- the shard's hash tag {<namespace>:<shard>}:
--   KEYS[1] due       ZSET  task id -> due time (ms)
--   KEYS[2] inflight  ZSET  task id -> lease deadline (ms)
--   KEYS[3] tasks     HASH  task id -> the task: state, token, counters and its Kafka record (see task.lua)
--   KEYS[4] aggs      HASH  aggregate id -> id of its head task ('' = held)
--   KEYS[5] waiting   ZSET  tasks waiting behind their head (see waiting.lua)
--   KEYS[6] seq       STRING counter for fencing tokens and queue order
--   KEYS[7] dead      ZSET  task id -> time it died (kept dead tasks only)
--   KEYS[8] pauses    HASH  dispatch pauses: 'all', 'topic:<t>', 'error:<class>' -> since (ms)
--   KEYS[9] paused    ZSET  task id -> due time, for due tasks a pause holds back
--   KEYS[10] shifting ZSET  task id -> new due time: left only by an interrupted shift of an older zretry (shift-10.lua returns them)
local function shardKeys(channel)
  return {
    due = KEYS[1], inflight = KEYS[2], tasks = KEYS[3], aggs = KEYS[4],
    waiting = KEYS[5], seq = KEYS[6], dead = KEYS[7],
    pauses = KEYS[8], paused = KEYS[9], shifting = KEYS[10],
    channel = channel or '',
  }
end
