--[[
  Extends the leases of tasks still being worked on (a handler that runs
  long, or a republished record still on its way back).

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     leaseMs, the new lease from Redis's now
  ARGV[2]     n
  then 2 per task: id, token

  Returns one code per task: 1 extended, -1 gone, -2 lease lost.
]]
--@include now-ms
--@include task
--@include shard-keys
--@include check-lease

local keys = shardKeys()
local lease = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
for i = 0, n - 1 do
  local id, token = ARGV[3 + i * 2], ARGV[4 + i * 2]
  local _, code = checkLease(keys, id, token)
  if code == 0 then
    redis.call('ZADD', keys.inflight, now + lease, id)
    code = 1
  end
  out[#out + 1] = code
end
return out
