--[[
  Operator: deletes tasks without running them or writing a dead letter
  (the records are given up on purpose). A head's next waiting task becomes
  due now; a dead task leaves the dead set.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     n
  then n task ids

  Returns one code per id: 1 deleted, -1 gone, -4 in flight.
]]
--@include now-ms
--@include task
--@include wake
--@include waiting
--@include shard-keys
--@include promote-next
--@include leave-head
--@include operator-refusal
--@include pauses
--@include held

local keys = shardKeys(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
for i = 1, n do
  local id = ARGV[2 + i]
  local m, refused = operatorTask(keys, id)
  -- an unreadable task is deleted as it is: its aggregate, if it headed one, is freed by unhold
  local code = (refused == -7 and 1) or refused or 1
  if code == 1 then
    if m and m[3] == 'h' then leaveHeld(keys, id, m.raw) end
    if m and m[3] ~= 'x' then leaveAggregate(keys, id, m, now, false, false) end
    redis.call('ZREM', keys.inflight, id)
    redis.call('ZREM', keys.due, id)
    redis.call('ZREM', keys.dead, id)
    redis.call('ZREM', keys.paused, id)
    redis.call('ZREM', keys.shifting, id)
    redis.call('HDEL', keys.tasks, id)
  end
  out[#out + 1] = code
end
return out
