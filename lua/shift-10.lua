--[[
  Operator: pushes due times back by deltaMs (during a downstream outage),
  in bounded steps and two phases so no task is moved twice:
    'out'  moves up to limit tasks from the due set to the shifting set,
           scored due time + deltaMs (they are not claimable meanwhile)
    'in'   moves up to limit tasks from the shifting set back to the due set

  KEYS[1..10] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     phase, 'out' or 'in'
  ARGV[2]     deltaMs
  ARGV[3]     limit

  Returns how many tasks were moved; 0 means the phase is done.
]]
--@include shard-keys

local keys = shardKeys()
local delta = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local from, to = keys.due, keys.shifting
if ARGV[1] == 'in' then from, to, delta = keys.shifting, keys.due, 0 end
local members = redis.call('ZRANGE', from, 0, limit - 1, 'WITHSCORES')
for i = 1, #members, 2 do
  redis.call('ZREM', from, members[i])
  redis.call('ZADD', to, tonumber(members[i + 1]) + delta, members[i])
end
return #members / 2
