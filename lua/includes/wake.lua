-- Adds a task to the due set and, when it becomes the earliest entry, nudges
-- sleeping workers on the shard's wake channel so they need not poll. The
-- channel is in the shard's slot ({<namespace>:<shard>}:wake): SPUBLISH
-- from a script on a cluster is refused for a channel of another slot.
local function addDue(dueKey, channel, id, dueAt)
  local head = redis.call('ZRANGE', dueKey, 0, 0, 'WITHSCORES')
  redis.call('ZADD', dueKey, dueAt, id)
  if channel ~= '' and (head[2] == nil or dueAt < tonumber(head[2])) then
    redis.call('SPUBLISH', channel, dueAt)
  end
end
