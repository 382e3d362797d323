--[[
  Operator: dispatch limits and breakers of a namespace
  (docs/dispatch-control.md). Workers pick a change up at their next
  grant (grant-4.lua), within dispatch.syncMs.

  KEYS[1..4]  the control keys (includes/control-state.lua)
  ARGV[1]     what to do:
    'set', scope, rate, burst, concurrency
                                sets a scope's limits: a rate (tasks/s,
                                bucket size; the bucket starts full) and a
                                concurrency (most running at once, topics
                                only); '' for either removes it
    'clear', scope              removes it; tasks it held run again
    'force', scope, state, probeMs
                                'open': the breaker opens and stays open
                                (no probes); 'closed': it closes (the
                                backlog comes back on the ramp) and stays
                                closed; 'auto': the breaker decides again
    'known', topic              whether zretry has seen the topic
    'register', topics...       records topics as known (a consumer's)
    'view'                      everything, for stats

  Returns: 'set', 'clear', 'force': 1 if something changed, else 0;
  'known': 1 or 0; 'register': how many were new; 'view': { settings
  (flat field, value), active (flat scope, JSON), log (JSON lines, newest
  first), now, scopes (every scope outcomes were reported for, and
  registered topics) }.
]]
--@include now-ms
--@include control-state

local keys = controlKeys()
local op = ARGV[1]
local now = nowMs()
if op == 'set' then
  local scope, rate, burst, conc = ARGV[2], ARGV[3], ARGV[4], ARGV[5] or ''
  local was = (redis.call('HGET', keys.settings, 'limit:' .. scope) or '') .. '/' .. (redis.call('HGET', keys.settings, 'concurrency:' .. scope) or '')
  local v = ''
  if rate ~= '' then
    v = rate .. ' ' .. burst
    redis.call('HSET', keys.settings, 'limit:' .. scope, v)
  else
    redis.call('HDEL', keys.settings, 'limit:' .. scope)
  end
  if conc ~= '' then
    redis.call('HSET', keys.settings, 'concurrency:' .. scope, conc)
  else
    redis.call('HDEL', keys.settings, 'concurrency:' .. scope)
  end
  -- the same limit set again (automation re-applying it) keeps its bucket: no extra burst
  if was == v .. '/' .. conc then return 0 end
  -- a new or changed limit starts with a full bucket
  local st = redis.call('HGET', keys.active, scope)
  local ok, decoded = pcall(cjson.decode, st or '')
  if not ok or type(decoded) ~= 'table' then decoded = {} end
  decoded.t, decoded.ts = tonumber(burst) or 0, now
  redis.call('HSET', keys.active, scope, cjson.encode(decoded))
  transition(keys, {}, now, scope, 'limit-set', { rate = tonumber(rate), burst = tonumber(burst), concurrency = tonumber(conc), by = 'operator' })
  return 1
elseif op == 'clear' then
  local n = redis.call('HDEL', keys.settings, 'limit:' .. ARGV[2], 'concurrency:' .. ARGV[2])
  if n > 0 then transition(keys, {}, now, ARGV[2], 'limit-cleared', { by = 'operator' }) end
  return math.min(n, 1)
elseif op == 'force' then
  local scope, state, probeMs = ARGV[2], ARGV[3], tonumber(ARGV[4])
  local was = redis.call('HGET', keys.settings, 'force:' .. scope)
  if state == 'auto' then
    redis.call('HDEL', keys.settings, 'force:' .. scope)
  else
    redis.call('HSET', keys.settings, 'force:' .. scope, state)
  end
  local active = loadActive(keys)
  local st = active[scope] or { t = 0, ts = now }
  if state == 'open' and st.b ~= 'open' then
    transition(keys, {}, now, scope, 'opened', { by = 'operator' })
    st.b, st.o, st.p, st.n, st.t, st.r, st.u = 'open', now, now + probeMs, 0, 0, nil, nil
  elseif state == 'closed' and (st.b == 'open' or st.b == 'throttle') then
    transition(keys, {}, now, scope, 'closed', { by = 'operator', openMs = now - (st.o or now) })
    st.b, st.r, st.o, st.p, st.n, st.u = 'ramp', now, nil, nil, nil, nil
  elseif state == 'auto' and st.b == 'open' then
    -- a breaker an operator opened starts probing
    st.p = now
  end
  redis.call('HSET', keys.active, scope, cjson.encode(st))
  if was == state or (was == false and state == 'auto') then return 0 end
  return 1
elseif op == 'known' then
  return redis.call('HEXISTS', keys.window, 'topic:' .. ARGV[2])
elseif op == 'register' then
  local n = 0
  for i = 2, #ARGV do n = n + redis.call('HSETNX', keys.window, 'topic:' .. ARGV[i], '0 0 0') end
  return n
elseif op == 'view' then
  return { redis.call('HGETALL', keys.settings), redis.call('HGETALL', keys.active), redis.call('LRANGE', keys.log, 0, 99), now, redis.call('HKEYS', keys.window) }
end
return redis.error_reply('zretry: control-4.lua: unknown operation ' .. tostring(op))
