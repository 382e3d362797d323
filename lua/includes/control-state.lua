-- Dispatch control of a namespace (docs/dispatch-control.md), kept in its
-- own slot {<namespace>:ctl}, apart from the shards:
--   KEYS[1] settings HASH  'limit:<scope>' -> '<rate> <burst>' (operator),
--                          'concurrency:<scope>' -> most tasks of it running
--                          at once over all workers (operator, topics only),
--                          'force:<scope>' -> 'open' | 'closed' (operator)
--   KEYS[2] active   HASH  scope -> JSON state of a scope under control now:
--                          t tokens, ts their time (ms), b breaker ('open',
--                          'ramp', 'throttle' or absent), o opened at, p next
--                          probe at, n probes, r ramp start, u throttled until,
--                          w worker id -> [tasks of it running, until when
--                          that count holds] under a concurrency limit
--   KEYS[3] window   HASH  scope -> '<start> <ok> <fail>': outcomes of
--                          dispatched tasks in the breaker's current window;
--                          its topic fields are the topics zretry knows
--   KEYS[4] log      LIST  the last 100 transitions (JSON), newest first
-- A scope is 'all', 'topic:<t>' or 'error:<class>'.
local function controlKeys()
  return { settings = KEYS[1], active = KEYS[2], window = KEYS[3], log = KEYS[4] }
end

-- settings as limits (scope -> { rate, burst }), force (scope -> 'open' |
-- 'closed') and concurrency (scope -> most running at once)
local function loadSettings(keys)
  local flat = redis.call('HGETALL', keys.settings)
  local limits, force, concurrency = {}, {}, {}
  for i = 1, #flat, 2 do
    local f, v = flat[i], flat[i + 1]
    if string.sub(f, 1, 6) == 'limit:' then
      local rate, burst = string.match(v, '^(%S+) (%S+)$')
      limits[string.sub(f, 7)] = { rate = tonumber(rate), burst = tonumber(burst) }
    elseif string.sub(f, 1, 6) == 'force:' then
      force[string.sub(f, 7)] = v
    elseif string.sub(f, 1, 12) == 'concurrency:' then
      concurrency[string.sub(f, 13)] = tonumber(v)
    end
  end
  return limits, force, concurrency
end

local function loadActive(keys)
  local flat = redis.call('HGETALL', keys.active)
  local active = {}
  for i = 1, #flat, 2 do
    local ok, st = pcall(cjson.decode, flat[i + 1])
    if ok and type(st) == 'table' then active[flat[i]] = st end
  end
  return active
end

-- Records a transition: in the log list, and in the reply for the caller to log and count.
local function transition(keys, out, now, scope, to, detail)
  detail = detail or {}
  detail.at, detail.scope, detail.to = now, scope, to
  local line = cjson.encode(detail)
  out[#out + 1] = line
  redis.call('LPUSH', keys.log, line)
  redis.call('LTRIM', keys.log, 0, 99)
end
