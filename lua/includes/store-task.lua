-- Stores a new task: due at dueAt when its aggregate is free (code 1,
-- 'scheduled'), or waiting behind the aggregate's head (code 2, 'queued').
-- The caller has checked that the id is new. (schedule stores whole batches
-- its own way, with the same rules.)
local function storeTask(keys, now, id, agg, dueAt, attempt, first, err, rec, doom)
  local seq = redis.call('INCR', keys.seq)
  local m = { attempt, 0, 'd', agg, first, err, nil, doom or '', nil, seq, 0 }
  if agg ~= '' and redis.call('HEXISTS', keys.aggs, agg) == 1 then
    m[3] = 'w'
    redis.call('HSET', keys.tasks, id, encodeTask(m, rec))
    redis.call('ZADD', keys.waiting, 0, waitingMember(agg, seq, id))
    return 2
  end
  if agg ~= '' then redis.call('HSET', keys.aggs, agg, id) end
  redis.call('HSET', keys.tasks, id, encodeTask(m, rec))
  addDue(keys.due, keys.channel, id, dueAt)
  return 1
end
