-- Redis's own clock in milliseconds (DESIGN.md invariant 4: one clock).
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
