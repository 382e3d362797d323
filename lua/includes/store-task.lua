-- Stores a new task: due at dueAt when its aggregate is free (code 1,
-- 'scheduled'), or waiting behind the aggregate's head (code 2, 'queued').
-- The caller has checked that the id is new.
local function storeTask(keys, now, id, agg, dueAt, attempt, first, err, rec, doom)
  local seq = redis.call('INCR', keys.seq)
  local m = { attempt, 0, 'd', agg, first, err, dueAt, doom or '', now, seq }
  redis.call('HSET', keys.rec, id, rec)
  if agg ~= '' and redis.call('HEXISTS', keys.aggs, agg) == 1 then
    m[3] = 'w'
    setMeta(keys.meta, id, m)
    redis.call('ZADD', keys.waiting, 0, waitingMember(agg, seq, id))
    return 2
  end
  if agg ~= '' then redis.call('HSET', keys.aggs, agg, id) end
  setMeta(keys.meta, id, m)
  addDue(keys.due, keys.channel, id, dueAt)
  return 1
end
