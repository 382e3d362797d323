--[[
  Completes tasks whose handler succeeded: deletes them and makes the next
  task of each one's aggregate due now.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     n
  then 2 per task: id, token (the fencing token of the claim)

  Returns one code per task: 1 acked, -1 gone, -2 lease lost (stale token:
  another claim owns the task now, nothing was changed).
]]
--@include now-ms
--@include meta
--@include wake
--@include waiting
--@include shard-keys
--@include promote-next
--@include check-lease
--@include leave-head

local keys = shardKeys(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
for i = 0, n - 1 do
  local id, token = ARGV[3 + i * 2], ARGV[4 + i * 2]
  local m, code = checkLease(keys, id, token)
  if m then
    redis.call('ZREM', keys.inflight, id)
    redis.call('HDEL', keys.meta, id)
    redis.call('HDEL', keys.rec, id)
    leaveAggregate(keys, id, m, now, false, false)
    code = 1
  end
  out[#out + 1] = code
end
return out
