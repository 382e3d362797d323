-- The refusals shared by the operator scripts: -1 the task is gone, -4 a
-- worker holds it now. Returns nil when the operator may act on it.
local function operatorRefusal(m)
  if not m then return -1 end
  if m[3] == 'f' then return -4 end
  return nil
end
