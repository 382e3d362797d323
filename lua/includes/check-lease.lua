-- The fencing check of ack, retry, kill, extend and release. Returns the
-- decoded task when token holds the task's current lease, else nil and
-- the error code: -1 the task is gone (or unreadable, as ack counts it; the
-- reaper moves it to the dead set when its lease ends), -2 the lease was
-- lost (the token is stale or the task is no longer in flight).
local function checkLease(keys, id, token)
  local raw = redis.call('HGET', keys.tasks, id)
  local m = raw and decodeTask(raw)
  if not m then return nil, -1 end
  if m[3] ~= 'f' or m[2] ~= tonumber(token) then return nil, -2 end
  return m, 0
end
