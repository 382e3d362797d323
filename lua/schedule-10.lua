--[[
  Schedules failed records as tasks, deduplicated by task id.

  KEYS[1..10] the shard's keys (includes/shard-keys.lua)
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
--@include task
--@include waiting
--@include shard-keys

local keys = shardKeys(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
if n == 0 then return out end
-- A whole batch in a few calls (redis.call has a fixed cost per call): one
-- HMGET for dedup, one for the aggregates, then one write per key.
local ids, aggList = {}, {}
for i = 0, n - 1 do
  local b = 3 + i * 8
  ids[#ids + 1] = ARGV[b]
  if ARGV[b + 1] ~= '' then aggList[#aggList + 1] = ARGV[b + 1] end
end
local exists = redis.call('HMGET', keys.tasks, unpack(ids))
local busy = {}
if #aggList > 0 then
  local heads = redis.call('HMGET', keys.aggs, unpack(aggList))
  for k, agg in ipairs(aggList) do
    if heads[k] then busy[agg] = true end
  end
end
local seq = redis.call('INCRBY', keys.seq, n) - n
local seen = {}
local taskArgs, dueArgs, waitArgs, aggArgs = {}, {}, {}, {}
local earliest
for i = 0, n - 1 do
  local b = 3 + i * 8
  local id, agg = ARGV[b], ARGV[b + 1]
  if exists[i + 1] or seen[id] then
    out[#out + 1] = 0
  else
    seen[id] = true
    seq = seq + 1
    local attempt = tonumber(ARGV[b + 3])
    local first = tonumber(ARGV[b + 4])
    if first == 0 and attempt > 0 then first = now end
    local m = { attempt, 0, 'd', agg, first, ARGV[b + 5], nil, ARGV[b + 7], nil, seq, 0 }
    if agg ~= '' and busy[agg] then
      m[3] = 'w'
      waitArgs[#waitArgs + 1] = 0
      waitArgs[#waitArgs + 1] = waitingMember(agg, seq, id)
      out[#out + 1] = 2
    else
      local dueAt = now + tonumber(ARGV[b + 2])
      if agg ~= '' then
        busy[agg] = true
        aggArgs[#aggArgs + 1] = agg
        aggArgs[#aggArgs + 1] = id
      end
      dueArgs[#dueArgs + 1] = dueAt
      dueArgs[#dueArgs + 1] = id
      if not earliest or dueAt < earliest then earliest = dueAt end
      out[#out + 1] = 1
    end
    taskArgs[#taskArgs + 1] = id
    taskArgs[#taskArgs + 1] = encodeTask(m, ARGV[b + 6])
  end
end
if #taskArgs > 0 then redis.call('HSET', keys.tasks, unpack(taskArgs)) end
if #aggArgs > 0 then redis.call('HSET', keys.aggs, unpack(aggArgs)) end
if #waitArgs > 0 then redis.call('ZADD', keys.waiting, unpack(waitArgs)) end
if earliest then
  -- nudge sleeping workers when the batch brings the earliest due time (includes/wake.lua, once per batch)
  local head = redis.call('ZRANGE', keys.due, 0, 0, 'WITHSCORES')
  redis.call('ZADD', keys.due, unpack(dueArgs))
  if keys.channel ~= '' and (head[2] == nil or earliest < tonumber(head[2])) then
    redis.call('SPUBLISH', keys.channel, earliest)
  end
end
return out
