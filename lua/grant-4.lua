--[[
  Dispatch control, one step: takes a worker's report (outcomes of the
  tasks it dispatched, tokens it did not use, throttles its handlers
  asked for), moves each scope's breaker along, refills the token buckets
  on Redis's clock, and grants up to `want` tokens of every limited scope
  for the claim the worker is about to make (want 0: report only).
  docs/dispatch-control.md.

  A topic's concurrency limit: tasks of it running at once over all
  workers. Each worker reports how many it runs with every call; the grant
  adds what it grants to that worker's count, so two workers asking at
  once share what is free; a worker that stops reporting is forgotten
  after its lease.

  A scope's rate: its operator limit; 0 while its breaker is open (but a
  probe token every probeMs) or while throttled; on the way back (a probe
  succeeded, or a throttle ran out) a ramp that starts at rampStart tasks/s
  and doubles every rampDoublingMs until it reaches the scope's limit (or
  rampEnd without one), after which only the limit applies.

  KEYS[1..4]  the control keys (includes/control-state.lua)
  ARGV[1]     want: tokens asked of each limited scope (0: none)
  ARGV[2]     breaker settings: '<on 0|1> <failure rate 0..1> <min attempts>
              <windowMs> <probeMs> <rampStart> <rampDoublingMs> <rampEnd>'
  ARGV[3]     r, then r quadruples: scope, outcomes that succeeded, that
              failed, probes that succeeded (of those that succeeded: tasks
              the worker claimed with the scope's probe token)
  then        u, then u pairs: scope, tokens granted before and not used
  then        h, then h pairs: scope, milliseconds a handler asked to wait
  then        the worker's id, how long its running counts hold (ms: it
              reports again before that, or it is taken for gone), the
              report's sequence number (0: none; a worker numbers its
              reports 1, 2, ... and sends a report whose answer it did not
              get again with the same number: a number it sent before is
              not applied twice), c, then c pairs: scope, tasks of it the
              worker is running now

  Returns { now, grants, nextAll, nextAny, states, transitions, nexts } where
    grants       flat scope, tokens pairs, every limited scope (want > 0)
    nextAll      when the namespace-wide limit has tokens again (ms; -1:
                 there is none, or it has tokens now)
    nextAny      the earliest time another scope with no tokens now gets
                 some (-1: none)
    states       flat scope, mode pairs of every scope under control:
                 'limit', 'concurrency', 'open', 'forced-open', 'ramp',
                 'throttle'
    transitions  JSON lines of what changed (also kept in the log list)
    nexts        flat scope, time pairs (want > 0): when each limited
                 scope but 'all' has a token next (now if it has one; -1
                 never: forced open), for a shard that holds its tasks
]]
--@include now-ms
--@include control-state

local keys = controlKeys()
local now = nowMs()
local want = tonumber(ARGV[1])
local cfg = {}
for v in string.gmatch(ARGV[2], '%S+') do cfg[#cfg + 1] = tonumber(v) end
local on, threshold, minAttempts, windowMs, probeMs, rampStart, rampDoubling, rampEnd = cfg[1] == 1, cfg[2], cfg[3], cfg[4], cfg[5], cfg[6], cfg[7], cfg[8]

local limits, force, concurrency = loadSettings(keys)
local active = loadActive(keys)
local transitions = {}
local changed = {}
local function entry(scope)
  local st = active[scope]
  if not st then
    st = { t = 0, ts = now }
    active[scope] = st
  end
  changed[scope] = true
  return st
end

-- where each part of the arguments begins
local uAt = 3 + 1 + 4 * tonumber(ARGV[3])
local hAt = uAt + 1 + 2 * tonumber(ARGV[uAt])
local wAt = hAt + 1 + 2 * tonumber(ARGV[hAt])
local workerId, countLease, reportSeq = ARGV[wAt], tonumber(ARGV[wAt + 1]), tonumber(ARGV[wAt + 2])

-- A report is applied once: the last number applied per worker is kept
-- (window field 'reports', JSON id -> { seq, until }; a worker not heard of
-- for an hour is forgotten). A repeat (the worker did not get the answer,
-- or its client sent the call again after a reconnect) is only a grant.
local fresh = true
if reportSeq > 0 then
  local ok, seen = pcall(cjson.decode, redis.call('HGET', keys.window, 'reports') or '{}')
  if not ok or type(seen) ~= 'table' then seen = {} end
  local mine = seen[workerId]
  if mine and mine[1] >= reportSeq then fresh = false end
  local kept = {}
  for id, e in pairs(seen) do
    if e[2] >= now then kept[id] = e end
  end
  if fresh then kept[workerId] = { reportSeq, now + 3600000 } end
  redis.call('HSET', keys.window, 'reports', cjson.encode(kept))
end

-- outcomes: the breaker's window, and its transitions
local at = 3
for _ = 1, fresh and tonumber(ARGV[at]) or 0 do
  local scope, ok, fail, probeOk = ARGV[at + 1], tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4])
  at = at + 4
  local w = redis.call('HGET', keys.window, scope)
  local start, wok, wfail = 0, 0, 0
  if w then
    local a, b, c = string.match(w, '^(%S+) (%S+) (%S+)$')
    start, wok, wfail = tonumber(a), tonumber(b), tonumber(c)
  end
  if now - start >= windowMs then start, wok, wfail = now, 0, 0 end
  wok, wfail = wok + ok, wfail + fail
  local st = active[scope]
  if st and st.b == 'open' then
    -- only a probe's success says the dependency is back: other successes
    -- while open (tasks that were under way when it opened, under a partial
    -- outage up to 1 - failureRate of them) do not close it
    if probeOk > 0 and force[scope] ~= 'open' then
      st = entry(scope)
      transition(keys, transitions, now, scope, 'closed', { probes = st.n, openMs = now - (st.o or now), by = 'probe' })
      st.b, st.r, st.o, st.p, st.n = 'ramp', now, nil, nil, nil
      start, wok, wfail = now, 0, 0
    end
  elseif on and force[scope] ~= 'closed' and scope ~= 'all' and wok + wfail >= minAttempts and wfail >= threshold * (wok + wfail) then
    st = entry(scope)
    transition(keys, transitions, now, scope, 'opened', { failed = wfail, attempts = wok + wfail, windowMs = now - start })
    st.b, st.o, st.p, st.n, st.t, st.r, st.u = 'open', now, now + probeMs, 0, 0, nil, nil
    start, wok, wfail = now, 0, 0
  end
  redis.call('HSET', keys.window, scope, start .. ' ' .. wok .. ' ' .. wfail)
end

-- tokens given back; a probe given back may go to the next claim at once
at = uAt
for _ = 1, fresh and tonumber(ARGV[at]) or 0 do
  local scope, n = ARGV[at + 1], tonumber(ARGV[at + 2])
  at = at + 2
  local st = active[scope]
  if st and n > 0 then
    changed[scope] = true
    if st.b == 'open' then st.p = now else st.t = st.t + n end
  end
end

-- throttles: no dispatch of the scope until then, and a ramp after
at = hAt
for _ = 1, fresh and tonumber(ARGV[at]) or 0 do
  local scope, ms = ARGV[at + 1], tonumber(ARGV[at + 2])
  at = at + 2
  local st = active[scope]
  if not (st and st.b == 'open') then
    st = entry(scope)
    if st.b ~= 'throttle' then transition(keys, transitions, now, scope, 'throttled', { retryAfterMs = ms }) end
    st.b, st.u, st.t, st.r = 'throttle', math.max(st.u or 0, now + ms), 0, nil
  end
end

-- the worker's running counts
local running = {}
at = wAt + 3
for _ = 1, tonumber(ARGV[at]) do
  running[ARGV[at + 1]] = tonumber(ARGV[at + 2])
  at = at + 2
end

for scope, _ in pairs(limits) do
  if not active[scope] then
    active[scope] = { t = limits[scope].burst, ts = now }
    changed[scope] = true
  end
end
for scope, _ in pairs(concurrency) do
  if not active[scope] then
    active[scope] = { t = 0, ts = now }
    changed[scope] = true
  end
end
for scope, f in pairs(force) do
  if f == 'open' and not (active[scope] and active[scope].b == 'open') then
    local st = entry(scope)
    transition(keys, transitions, now, scope, 'opened', { by = 'operator' })
    st.b, st.o, st.p, st.n, st.t = 'open', now, now + probeMs, 0, 0
  end
end

-- refill, grant, and what each scope is now
local grants, states, nexts = {}, {}, {}
local nextAll, nextAny = -1, -1
local function later(t, x)
  if t == -1 or x < t then return x end
  return t
end
for scope, st in pairs(active) do
  local lim = limits[scope]
  local rate, burst, mode
  if st.b == 'throttle' and now >= st.u then
    st.b, st.r, st.u = 'ramp', st.u, nil
    changed[scope] = true
  end
  if st.b == 'open' then
    rate, burst, mode = 0, 0, force[scope] == 'open' and 'forced-open' or 'open'
  elseif st.b == 'throttle' then
    rate, burst, mode = 0, 0, 'throttle'
  elseif st.b == 'ramp' then
    local r = rampStart * 2 ^ ((now - st.r) / rampDoubling)
    local cap = (lim and lim.rate) or rampEnd
    if r >= cap then
      transition(keys, transitions, now, scope, 'ramp-ended', { rate = cap })
      st.b, st.r = nil, nil
      changed[scope] = true
    else
      rate, burst, mode = r, math.max(1, r / 10), 'ramp'
    end
  end
  if not mode and lim then rate, burst, mode = lim.rate, lim.burst, 'limit' end
  local conc = concurrency[scope]
  if not mode and conc then mode = 'concurrency' end
  -- what is free under a concurrency limit: this worker's count refreshed, the gone ones dropped
  local free
  if conc then
    st.w = st.w or {}
    local others = 0
    for wid, e in pairs(st.w) do
      if wid ~= workerId then
        if e[2] < now then st.w[wid] = nil else others = others + e[1] end
      end
    end
    local mine = running[scope] or 0
    st.w[workerId] = { mine, now + countLease }
    free = math.max(0, conc - others - mine)
  else
    st.w = nil
  end
  if not mode then
    redis.call('HDEL', keys.active, scope)
    changed[scope] = nil
  else
    if rate then st.t = math.min(burst, st.t + (now - st.ts) * rate / 1000) end
    st.ts = now
    changed[scope] = true
    states[#states + 1] = scope
    states[#states + 1] = mode
    if want > 0 then
      local grant = 0
      if st.b == 'open' then
        if mode == 'open' and now >= st.p then
          grant = 1
          st.p, st.n = now + probeMs, st.n + 1
          transition(keys, transitions, now, scope, 'probe', { probe = st.n })
        end
      elseif rate then
        grant = math.min(want, math.floor(st.t))
        -- the namespace-wide limit grants a useful batch or nothing, so that
        -- the workers do not claim one token at a time
        if scope == 'all' and grant < math.min(want, math.max(1, math.floor(burst / 2))) then grant = 0 end
      else
        grant = want
      end
      if free then grant = math.min(grant, free) end
      if rate and st.b ~= 'open' then st.t = st.t - grant end
      if free then st.w[workerId][1] = st.w[workerId][1] + grant end
      grants[#grants + 1] = scope
      grants[#grants + 1] = grant
      if scope == 'all' then
        if grant == 0 then nextAll = now + math.ceil((math.min(want, math.max(1, math.floor(burst / 2))) - st.t) * 1000 / rate) end
      else
        -- when the scope has a token next (now if it has one left)
        local t
        if st.b == 'open' then
          t = (mode == 'open') and st.p or -1
        elseif st.b == 'throttle' then
          t = st.u
        elseif free and free - grant <= 0 then
          -- running tasks end on any worker: look again soon
          t = now + 250
        elseif not rate or st.t >= 1 then
          t = now
        else
          t = now + math.ceil((1 - st.t) * 1000 / rate)
        end
        nexts[#nexts + 1] = scope
        nexts[#nexts + 1] = t
        if grant == 0 and t ~= -1 then nextAny = later(nextAny, t) end
      end
    end
  end
end

for scope, _ in pairs(changed) do redis.call('HSET', keys.active, scope, cjson.encode(active[scope])) end
return { now, grants, nextAll, nextAny, states, transitions, nexts }
