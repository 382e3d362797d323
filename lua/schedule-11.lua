--[[
  Schedules failed records as tasks, deduplicated by task id.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     n, the number of tasks
  then 8 per task:
    id        task id (the message id: dedup key)
    agg       aggregate id ('' for none: no ordering)
    delayMs   due this long after Redis's now
    attempt   handler attempts made so far (1 after a first failure, 0 parked)
    first     first-failure time in ms, or 0 for now (attempt > 0) / none
    err       last error, opaque JSON
    rec       the record, opaque bytes
    doom      '' or why the record is dead already (a fatal error in the
              consumer): its dispatch writes the dead letter without
              running the handler, and the follower policy applies

  Returns one code per task: 1 scheduled (due), 2 queued behind its
  aggregate's head, 0 duplicate (the id is already scheduled, queued, in
  flight or dead: nothing is stored).
]]
--@include now-ms
--@include meta
--@include wake
--@include waiting
--@include shard-keys
--@include store-task

local keys = shardKeys(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
for i = 0, n - 1 do
  local b = 3 + i * 8
  local id, agg = ARGV[b], ARGV[b + 1]
  if redis.call('HEXISTS', keys.meta, id) == 1 then
    out[#out + 1] = 0
  else
    local attempt = tonumber(ARGV[b + 3])
    local first = tonumber(ARGV[b + 4])
    if first == 0 and attempt > 0 then first = now end
    out[#out + 1] = storeTask(keys, now, id, agg, now + tonumber(ARGV[b + 2]),
      attempt, first, ARGV[b + 5], ARGV[b + 6], ARGV[b + 7])
  end
end
return out
