-- A task left the system (acked, killed, skipped). If it was its aggregate's
-- head, the next waiting task becomes due now (doomed if doom), or with
-- hold the aggregate stays blocked; if it was waiting (or a chain's
-- follower, 'c'), its queue entry goes.
local function leaveAggregate(keys, id, m, now, doom, hold)
  local agg = m[4]
  if agg == '' then return end
  if m[3] == 'w' or m[3] == 'c' then
    redis.call('ZREM', keys.waiting, waitingMember(agg, m[10] or 0, id))
    return
  end
  if redis.call('HGET', keys.aggs, agg) ~= id then return end
  if hold then
    redis.call('HSET', keys.aggs, agg, '')
  else
    promoteNext(keys, agg, now, doom)
  end
end
