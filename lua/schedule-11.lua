--[[
  Schedules failed records as tasks, deduplicated by task id, and parks
  records behind their aggregate's head (attempt 0).

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     the tasks, packed into one argument (the client's cost is per
              argument), each big-endian:
    id        I2 length + bytes: task id (the message id: dedup key)
    agg       I2 length + bytes: aggregate id ('' for none: no ordering)
    delayMs   I4: due this long after Redis's now
    attempt   I4: handler attempts made so far (1 after a first failure, 0 parked)
    first     I6: first-failure time in ms, or 0 for now (attempt > 0) / none
    err       I4 length + bytes: last error, opaque JSON
    rec       I4 length + bytes: the record, opaque
    doom      I2 length + bytes: '' or why the record is dead already (a
              fatal error in the consumer): its dispatch writes the dead
              letter without running the handler, and the follower policy
              applies

  Returns one code per task: 1 scheduled (due), 2 queued behind its
  aggregate's head, 0 duplicate (the id is already scheduled, queued, in
  flight or dead: nothing is stored).
]]
--@include now-ms
--@include task
--@include waiting
--@include shard-keys

local keys = shardKeys(ARGV[1])
local packed = ARGV[2]
local now = nowMs()
local out = {}
local tasks, at = {}, 1
while at <= #packed do
  local t = {}
  t.id, t.agg, t.delay, t.attempt, t.first, t.err, t.rec, t.doom, at = struct.unpack('>I2c0I2c0I4I4I6I4c0I4c0I2c0', packed, at)
  tasks[#tasks + 1] = t
end
local n = #tasks
if n == 0 then return out end
-- A whole batch in a few calls (redis.call has a fixed cost per call): one
-- HMGET for dedup, one for the aggregates, then one write per key.
local ids, aggList = {}, {}
for i, t in ipairs(tasks) do
  ids[i] = t.id
  if t.agg ~= '' then aggList[#aggList + 1] = t.agg end
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
for i, t in ipairs(tasks) do
  local id, agg = t.id, t.agg
  if exists[i] or seen[id] then
    out[#out + 1] = 0
  else
    seen[id] = true
    seq = seq + 1
    local attempt = t.attempt
    local first = t.first
    if first == 0 and attempt > 0 then first = now end
    local m = { attempt, 0, 'd', agg, first, t.err, nil, t.doom, nil, seq, 0 }
    if agg ~= '' and busy[agg] then
      m[3] = 'w'
      waitArgs[#waitArgs + 1] = 0
      waitArgs[#waitArgs + 1] = waitingMember(agg, seq, id)
      out[#out + 1] = 2
    else
      local dueAt = now + t.delay
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
    taskArgs[#taskArgs + 1] = encodeTask(m, t.rec)
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
