-- Returns up to limit in-flight tasks whose lease ran out to the due set, due
-- now. Their token is left as it is: the next claim changes it, so a late ack
-- from the lost lease is refused. Returns how many were reaped.
local function reapExpired(keys, now, limit)
  local expired = redis.call('ZRANGEBYSCORE', keys.inflight, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(expired) do
    redis.call('ZREM', keys.inflight, id)
    -- an unreadable one goes to the dead set instead of stopping every claim of the shard
    local m = readTask(keys, id, now)
    if m then
      m[3] = 'd'
      setTask(keys, id, m)
      redis.call('ZADD', keys.due, now, id)
    end
  end
  return #expired
end
