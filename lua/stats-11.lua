--[[
  Counts of one shard.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)

  Returns { now, dueNow, dueLater, inflight, waiting, aggregates, dead,
            oldestDueAt (-1 if nothing is due now), paused, pauses, held }
  where dueLater includes tasks that an interrupted shift of an older
  zretry left in the shifting set (the next shift returns them), paused counts
  due tasks held back by a topic or error pause, and pauses is the list of
  active pauses, and held counts due tasks a dispatch limit holds back
  (includes/held.lua; a member left by a skip counts until a claim meets it).
  where aggregates is the number of aggregates that have a head (blocked:
  their fresh records park behind it).
]]
--@include now-ms
--@include shard-keys

local keys = shardKeys()
local now = nowMs()
local dueNow = redis.call('ZCOUNT', keys.due, '-inf', now)
local oldest = -1
if dueNow > 0 then
  oldest = tonumber(redis.call('ZRANGE', keys.due, 0, 0, 'WITHSCORES')[2])
end
return {
  now,
  dueNow,
  redis.call('ZCOUNT', keys.due, '(' .. now, '+inf') + redis.call('ZCARD', keys.shifting),
  redis.call('ZCARD', keys.inflight),
  redis.call('ZCARD', keys.waiting),
  redis.call('HLEN', keys.aggs),
  redis.call('ZCARD', keys.dead),
  oldest,
  redis.call('ZCARD', keys.paused),
  redis.call('HKEYS', keys.pauses),
  redis.call('ZCARD', keys.held),
}
