-- Every script of a shard takes the same eleven keys, in this order, all under
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
--   KEYS[10] shifting ZSET  task id -> new due time: left only by an interrupted shift of an older zretry (shift-11.lua returns them)
--   KEYS[11] held     ZSET  due tasks a rate limit, breaker or throttle holds back (includes/held.lua), all at score 0,
--                           ordered by member '<scope>\0<due time, 13 digits>\0<id>'
local function shardKeys(channel)
  return {
    due = KEYS[1], inflight = KEYS[2], tasks = KEYS[3], aggs = KEYS[4],
    waiting = KEYS[5], seq = KEYS[6], dead = KEYS[7],
    pauses = KEYS[8], paused = KEYS[9], shifting = KEYS[10], held = KEYS[11],
    channel = channel or '',
  }
end
