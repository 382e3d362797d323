--[[
  Operator: releases aggregates held after their head died under the
  'hold' policy, or whose head task is gone or unreadable (corrupted data):
  the next waiting task of each becomes due now.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     n
  then n aggregate ids

  Returns one code per aggregate: 1 released (its next task is due now),
  2 released with nothing waiting (the aggregate is free), 0 not held (its
  head is a live task, or it has none).
]]
--@include now-ms
--@include task
--@include wake
--@include waiting
--@include shard-keys
--@include promote-next

local keys = shardKeys(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
for i = 1, n do
  local agg = ARGV[2 + i]
  local head = redis.call('HGET', keys.aggs, agg)
  local broken = false
  if head and head ~= '' then
    broken = decodeTask(redis.call('HGET', keys.tasks, head)) == nil
  end
  if not (head == '' or broken) then
    out[#out + 1] = 0
  else
    out[#out + 1] = promoteNext(keys, agg, now, false) and 1 or 2
  end
end
return out
