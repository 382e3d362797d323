--[[
  Claims due tasks: moves up to n tasks whose due time has come from the due
  set to the in-flight set, each with a new fencing token and a lease. First
  reaps leases that ran out, so a dead worker's tasks come back by themselves.
  Honours dispatch pauses: with 'all' nothing is claimed; a due task whose
  topic or error class is paused moves to the paused set instead.

  Chains: a claimed head of an aggregate takes up to k of the tasks waiting
  behind it along, in queue order, under its own lease and token: they stay
  in the waiting set, marked 'c' with the head's token (includes/chain.lua).
  The worker runs the chain in order and reports it with one ack
  (ack-11.lua), so a queue of parked records does not cost one claim and
  one ack each. A chain stops before a follower that is doomed or
  unreadable (it is dealt with once it is the head); a doomed head, and any
  head while a topic or error-class pause is on, takes no followers.

  Dispatch limits (docs/dispatch-control.md): the caller passes, per
  limited scope ('topic:<t>', 'error:<class>'), how many tasks of it this
  call may take (tokens it was granted by grant-4.lua in the control slot;
  the namespace-wide limit is the caller's n). A due task of a scope with
  none left moves to the held set (includes/held.lua) as the claim meets
  it, once; the claim first takes the held tasks of scopes that have
  tokens (or no longer have a limit), oldest first, then the due set. A
  doomed task needs no token. With limits, heads take no followers: each
  task is one token.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     n, the most heads (chains) to claim
  ARGV[2]     leaseMs, how long the claimer holds each chain
  ARGV[3]     reap limit, the most expired leases to return per call
  ARGV[4]     k, the most followers one head takes along (0: no chains)
  ARGV[5]     the most followers in all in this call (bounds its work)
  ARGV[6]     m, the number of limited scopes; absent: a plain claim, made
              without a grant of this round (see below)
  ARGV[7..]   m pairs: scope, tasks of it this call may take
  then        a cursor: the held scope the caller's last claim of this
              shard looked at last ('' or absent: from the start)

  Only a claim carrying a grant (ARGV[6] given, even 0) touches the held
  set: it takes held tasks of scopes with tokens, and of scopes the grant
  does not list as limited (their limit is gone). A plain claim leaves held
  tasks where they are (fail closed: a worker that has not heard from the
  control slot, or not yet of a new breaker, must not release what an open
  breaker holds); it still reports how many are held, so that the worker
  turns to claiming under control.

  Returns { now, next, reaped, corrupt, claimed, used, held, scopes } where
    now      Redis's time (ms)
    next     the earliest time something else needs doing: the next due
             time or lease deadline, -1 if the shard is idle (or paused)
    reaped   how many expired leases were returned to the due set
    corrupt  a list of ids whose task value could not be read; they were moved
             to the dead set for an operator to inspect
    claimed  the claimed tasks in one string (one reply element instead of
             three per task), each: id length (I2), id, the due time it was
             claimed at (I6, for lateness; 0 for a follower), the number of
             followers that come right after it (I2; 0 for a follower),
             value length (I4), and the task's value as now stored
             (includes/task.lua) with its new token; the client decodes it
    used     per limited scope given, in the order given, how many of its
             tasks were claimed (the caller gives the rest back)
    held     how many tasks the held set of the shard holds now
    scopes   the scopes that held tasks when the call began: every limited
             scope given that holds some, and the others this call looked
             at in turn (at most 16)
    cursor   the last held scope looked at in turn: the next claim's cursor
    more     1 when held scopes were left out of this turn (the next claim
             goes on from cursor), else 0
]]
--@include now-ms
--@include task
--@include waiting
--@include shard-keys
--@include reap-expired
--@include pauses
--@include held

local keys = shardKeys()
local n = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local now = nowMs()
local reaped = reapExpired(keys, now, tonumber(ARGV[3]))
local pauses = loadPauses(keys)
local k = tonumber(ARGV[4] or 0)
local budget = tonumber(ARGV[5] or 0)
if pauses and pauses.any then k = 0 end

local granted = ARGV[6] ~= nil and ARGV[6] ~= ''
local limits = tonumber(ARGV[6] or 0)
local allow, scopeOrder, used = {}, {}, {}
for i = 1, limits do
  local scope = ARGV[5 + i * 2]
  allow[scope] = tonumber(ARGV[6 + i * 2])
  scopeOrder[i] = scope
  used[scope] = 0
end
if limits > 0 then k = 0 end

local cursor = ARGV[7 + limits * 2] or ''
local out = { now, -1, reaped, {}, '', {}, 0, {}, cursor, 0 }
local heads = {}
local claimed, examined = 0, 0

-- What becomes of a readable due task: nil, it is claimed (taking a token
-- of each limited scope it is in); 'p', a pause holds it; else the scope
-- whose tokens ran out, which holds it.
local function judge(raw)
  if pauses and pauses.any and heldBack(pauses, raw) then return 'p' end
  if limits == 0 or taskDoomed(raw) then return nil end
  local topic, class = taskScopes(raw)
  local ts, cs = 'topic:' .. topic, 'error:' .. class
  local a, b = allow[ts], nil
  if class ~= '' then b = allow[cs] end
  if a and a <= 0 then return ts end
  if b and b <= 0 then return cs end
  if a then allow[ts], used[ts] = a - 1, used[ts] + 1 end
  if b then allow[cs], used[cs] = b - 1, used[cs] + 1 end
  return nil
end

-- Claims, holds or pauses tasks just taken out of the due or held set; one
-- Redis call per kind of write for the batch (redis.call has a fixed cost).
-- Each task is placed once per call, whatever members of the held set name
-- it (a stale member and a current one): a task is never claimed twice.
local placedIds = {}
local function place(ids, scores, raws, fromHeld)
  local token = redis.call('INCRBY', keys.seq, #ids) - #ids
  local taskArgs, leaseArgs, pausedArgs, deadArgs, heldArgs = {}, {}, {}, {}, {}
  for j, id in ipairs(ids) do
    local raw = raws[j]
    local verdict
    local again = placedIds[id]
    placedIds[id] = true
    if again then
      -- met twice in this call: placed already
    elseif not taskReadable(raw) then
      -- a stale held member (task gone or moved on) is only dropped
      if raw or not fromHeld then
        table.insert(out[4], id)
        deadArgs[#deadArgs + 1] = now
        deadArgs[#deadArgs + 1] = id
      end
    elseif fromHeld and string.sub(raw, 1, 1) ~= 'h' then
      -- stale member
    else
      verdict = judge(raw)
      if verdict == 'p' then
        taskArgs[#taskArgs + 1] = id
        taskArgs[#taskArgs + 1] = withState(raw, 'p')
        pausedArgs[#pausedArgs + 1] = scores[j]
        pausedArgs[#pausedArgs + 1] = id
      elseif verdict then
        taskArgs[#taskArgs + 1] = id
        taskArgs[#taskArgs + 1] = heldValue(raw, tonumber(scores[j]))
        heldArgs[#heldArgs + 1] = 0
        heldArgs[#heldArgs + 1] = heldMember(verdict, tonumber(scores[j]), id)
      else
        token = token + 1
        local value = withLease(raw, 'f', token)
        taskArgs[#taskArgs + 1] = id
        taskArgs[#taskArgs + 1] = value
        leaseArgs[#leaseArgs + 1] = now + lease
        leaseArgs[#leaseArgs + 1] = id
        heads[#heads + 1] = { id = id, dueAt = tonumber(scores[j]), value = value, token = token }
        claimed = claimed + 1
      end
    end
  end
  if #taskArgs > 0 then redis.call('HSET', keys.tasks, unpack(taskArgs)) end
  if #leaseArgs > 0 then redis.call('ZADD', keys.inflight, unpack(leaseArgs)) end
  if #pausedArgs > 0 then redis.call('ZADD', keys.paused, unpack(pausedArgs)) end
  if #deadArgs > 0 then redis.call('ZADD', keys.dead, unpack(deadArgs)) end
  if #heldArgs > 0 then redis.call('ZADD', keys.held, unpack(heldArgs)) end
end

-- Held tasks first (they have waited longest): of every scope that has
-- tokens, read directly (bounded by the number of allowances), then of
-- scopes no longer limited, up to what the call may take. Those are found
-- in turn from the caller's cursor, at most HELD_SCOPES per call, so every
-- held scope is reached however many scopes without tokens sort before it.
local HELD_SCOPES = 16
local function takeHeld(scope, max)
  local members = heldOf(keys, scope, max)
  if #members == 0 then return end
  redis.call('ZREM', keys.held, unpack(members))
  local ids, scores = {}, {}
  for j, member in ipairs(members) do
    local _, dueAt, id = heldParts(member)
    ids[j], scores[j] = id, dueAt
  end
  place(ids, scores, redis.call('HMGET', keys.tasks, unpack(ids)), true)
end
if granted and not (pauses and pauses.all) and redis.call('EXISTS', keys.held) == 1 then
  for _, scope in ipairs(scopeOrder) do
    local a = allow[scope]
    if a > 0 and claimed < n then takeHeld(scope, math.min(a, n - claimed)) end
    -- a limited scope that still holds tasks here: the worker wakes when it has tokens
    if holdsAny(keys, scope) then out[8][#out[8] + 1] = scope end
  end
  local scopes, more = heldScopesFrom(keys, cursor, HELD_SCOPES)
  out[10] = more and 1 or 0
  for _, scope in ipairs(scopes) do
    if claimed >= n then
      out[10] = 1
      break
    end
    if allow[scope] == nil then
      out[8][#out[8] + 1] = scope
      takeHeld(scope, n - claimed)
      -- a scope with more than the call could take is looked at again first
      if claimed >= n then
        out[10] = 1
        break
      end
    end
    out[9] = scope
  end
end

-- Tasks a pause or a limit holds back are moved out of the due set as the
-- claim meets them, each once; at most HELD_PER_CLAIM of them per call, so
-- such a claim stays as cheap as any (the rest are met by the next calls,
-- which come at once: next says the due set is not empty).
local HELD_PER_CLAIM = 100
while not (pauses and pauses.all) and claimed < n and examined < claimed + HELD_PER_CLAIM do
  local due = redis.call('ZRANGEBYSCORE', keys.due, '-inf', now, 'WITHSCORES', 'LIMIT', 0, n - claimed)
  if #due == 0 then break end
  local ids, scores = {}, {}
  for i = 1, #due, 2 do
    ids[#ids + 1] = due[i]
    scores[#scores + 1] = due[i + 1]
  end
  examined = examined + #ids
  -- the members just read are the lowest ranks of the set
  redis.call('ZREMRANGEBYRANK', keys.due, 0, #ids - 1)
  place(ids, scores, redis.call('HMGET', keys.tasks, unpack(ids)), false)
end

-- the chains: each head's first k waiting followers, while the budget lasts
local parts, followerArgs = {}, {}
for _, h in ipairs(heads) do
  local chain = {}
  local agg = taskAggregate(h.value)
  -- a doomed head only writes its dead letter: it takes nobody along
  if budget > 0 and k > 0 and agg ~= '' and not taskDoomed(h.value) then
    local p = aggPrefix(agg)
    local members = redis.call('ZRANGEBYLEX', keys.waiting, '[' .. p, '(' .. p .. '\255', 'LIMIT', 0, math.min(k, budget))
    if #members > 0 then
      local fids = {}
      for j, member in ipairs(members) do fids[j] = waitingId(agg, member) end
      local raws = redis.call('HMGET', keys.tasks, unpack(fids))
      for j, id in ipairs(fids) do
        local raw = raws[j]
        if not taskReadable(raw) or taskDoomed(raw) then break end
        local value = withLease(raw, 'c', h.token)
        followerArgs[#followerArgs + 1] = id
        followerArgs[#followerArgs + 1] = value
        chain[#chain + 1] = struct.pack('>I2c0I6I2I4', #id, id, 0, 0, #value) .. value
      end
      budget = budget - #chain
    end
  end
  parts[#parts + 1] = struct.pack('>I2c0I6I2I4', #h.id, h.id, h.dueAt, #chain, #h.value) .. h.value
  for _, c in ipairs(chain) do parts[#parts + 1] = c end
end
if #followerArgs > 0 then redis.call('HSET', keys.tasks, unpack(followerArgs)) end
out[5] = table.concat(parts)

local nextDue = redis.call('ZRANGE', keys.due, 0, 0, 'WITHSCORES')[2]
local nextLease = redis.call('ZRANGE', keys.inflight, 0, 0, 'WITHSCORES')[2]
if nextDue and not (pauses and pauses.all) then out[2] = tonumber(nextDue) end
if nextLease and (out[2] == -1 or tonumber(nextLease) < out[2]) then out[2] = tonumber(nextLease) end
for i, scope in ipairs(scopeOrder) do out[6][i] = used[scope] end
out[7] = redis.call('ZCARD', keys.held)
return out
