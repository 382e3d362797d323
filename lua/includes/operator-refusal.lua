-- The task an operator names and the refusals shared by the operator
-- scripts: -1 the task is gone, -7 its value cannot be read (zretry skip
-- deletes it), -4 a worker holds it now. Returns m (nil when refused) and
-- the refusal code (nil when the operator may act on it).
local function operatorTask(keys, id)
  local raw = redis.call('HGET', keys.tasks, id)
  if not raw then return nil, -1 end
  local m = decodeTask(raw)
  if not m then return nil, -7 end
  if m[3] == 'f' then return nil, -4 end
  return m, nil
end
