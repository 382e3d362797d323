--[[
  Gives claimed tasks back unfinished (a worker closing), due now, with their
  attempt count unchanged: the attempt never ran to an outcome.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     n
  then 2 per task: id, token

  Returns one code per task: 1 released, -1 gone, -2 lease lost.
]]
--@include now-ms
--@include task
--@include wake
--@include shard-keys
--@include check-lease

local keys = shardKeys(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
for i = 0, n - 1 do
  local id, token = ARGV[3 + i * 2], ARGV[4 + i * 2]
  local m, code = checkLease(keys, id, token)
  if m then
    redis.call('ZREM', keys.inflight, id)
    m[3] = 'd'
    setTask(keys, id, m)
    addDue(keys.due, keys.channel, id, now)
    code = 1
  end
  out[#out + 1] = code
end
return out
