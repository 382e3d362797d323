-- Called when the head of agg leaves (acked, killed, released). Makes the
-- next waiting task of agg due now, or frees the aggregate. With doom set the
-- next task is marked to go to the dead-letter topic (policy 'dead-letter').
-- Returns the promoted task id or false.
local function promoteNext(keys, agg, now, doom)
  if agg == '' then return false end
  local nextId, m
  -- an entry whose task is gone or unreadable (corrupted data) is dropped (an
  -- unreadable one goes to the dead set), and the next one tried
  for _ = 1, 100 do
    local member = firstWaiting(keys.waiting, agg)
    if not member then
      redis.call('HDEL', keys.aggs, agg)
      return false
    end
    redis.call('ZREM', keys.waiting, member)
    nextId = waitingId(agg, member)
    m = readTask(keys, nextId, now)
    if m then break end
  end
  if not m then return false end
  m[3] = 'd'
  if doom then m[8] = 'predecessor-died' end
  setTask(keys, nextId, m)
  redis.call('HSET', keys.aggs, agg, nextId)
  addDue(keys.due, keys.channel, nextId, now)
  return nextId
end
