--[[
  Operator: makes tasks due now. A due task moves its due time to now
  (retry-now); a dead task comes back with fresh attempts (replay), joining
  the end of its aggregate's queue, or due now if the aggregate is free or
  held (under 'hold', the aggregate waits for exactly this task).

  KEYS[1..10] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     n
  then n task ids

  Returns one code per id: 1 due now, 2 replayed behind its aggregate's
  head, -1 gone, -3 waiting behind its head (it runs after the head),
  -4 in flight (a worker holds it now), -6 held back by a pause.
]]
--@include now-ms
--@include task
--@include wake
--@include waiting
--@include shard-keys
--@include store-task
--@include operator-refusal

local keys = shardKeys(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
for i = 1, n do
  local id = ARGV[2 + i]
  local m, code = operatorTask(keys, id)
  if code then
    -- refused
  elseif m[3] == 'w' then
    code = -3
  elseif m[3] == 'p' then
    code = -6
  elseif m[3] == 'd' then
    addDue(keys.due, keys.channel, id, now)
    code = 1
  else -- 'x': replay
    redis.call('ZREM', keys.dead, id)
    -- a held aggregate is held for this task (it died as head): it is the head again, ahead of its followers
    if m[4] ~= '' and redis.call('HGET', keys.aggs, m[4]) == '' then redis.call('HDEL', keys.aggs, m[4]) end
    code = storeTask(keys, now, id, m[4], now, 0, 0, m[6], taskRecord(m), '')
  end
  out[#out + 1] = code
end
return out
