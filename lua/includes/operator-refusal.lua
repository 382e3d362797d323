-- The task an operator names and the refusals shared by the operator
-- scripts: -1 the task is gone, -7 its value cannot be read (zretry skip
-- deletes it), -4 a worker holds it now: it is in flight, or it is the
-- follower of a chain whose head is in flight under the same token
-- (claim-11.lua). A follower of a chain that ended is a waiting task again,
-- and comes back as one ('w'). Returns m (nil when refused) and the
-- refusal code (nil when the operator may act on it).
local function operatorTask(keys, id)
  local raw = redis.call('HGET', keys.tasks, id)
  if not raw then return nil, -1 end
  local m = decodeTask(raw)
  if not m then return nil, -7 end
  if m[3] == 'f' then return nil, -4 end
  if m[3] == 'c' then
    local head = redis.call('HGET', keys.aggs, m[4])
    local headRaw = head and head ~= '' and redis.call('HGET', keys.tasks, head)
    if headRaw and taskReadable(headRaw) then
      local state, token = taskLease(headRaw)
      if state == 'f' and token == m[2] then return nil, -4 end
    end
    m[3] = 'w'
  end
  return m, nil
end
