-- The held set (KEYS held): due tasks that a dispatch limit holds back (a
-- rate limit out of tokens, an open breaker, a throttle), kept apart so
-- that a claim does not meet them again in the due set: each is moved once,
-- and a claim with tokens for a scope takes that scope's oldest ones
-- directly. Every member has score 0 and reads
-- '<scope>\0<due time, 13 digits>\0<task id>', so one scope's tasks are one
-- lexicographic range, in due order. The task's state is 'h', and while it
-- is held its token field (no lease is out: state 'h' fences nothing) keeps
-- the due time of its member, so a script that takes it out of held (skip,
-- doom, retry-now) finds its member from the task alone and removes it
-- (leaveHeld). A member whose task is gone or no longer 'h' (left by an
-- older zretry) is stale: it is dropped when a claim meets it, and a claim
-- takes each task once whatever members name it.
local HELD_SEP = '\0'

local function heldMember(scope, dueAt, id)
  return scope .. HELD_SEP .. string.format('%013d', dueAt) .. HELD_SEP .. id
end

-- scope, due time and id of a member.
local function heldParts(member)
  local a = string.find(member, HELD_SEP, 1, true)
  local scope = string.sub(member, 1, a - 1)
  return scope, tonumber(string.sub(member, a + 1, a + 13)), string.sub(member, a + 15)
end

-- Up to limit members of one scope, oldest due first.
local function heldOf(keys, scope, limit)
  return redis.call('ZRANGEBYLEX', keys.held, '[' .. scope .. HELD_SEP, '(' .. scope .. '\1', 'LIMIT', 0, limit)
end

-- The scopes that hold tasks in this shard, at most limit of them, in
-- order from the first after cursor ('' : from the start), wrapping around
-- at the end, each once; and whether some were left out (limit reached
-- before the scan came back to where it began). A caller that passes the
-- last scope it looked at as the next cursor reaches every held scope in
-- turn, however many there are, at a bounded cost per call.
local function heldScopesFrom(keys, cursor, limit)
  local scopes, seen = {}, {}
  local function after(scope)
    return redis.call('ZRANGEBYLEX', keys.held, '(' .. scope .. '\1', '+', 'LIMIT', 0, 1)[1]
  end
  local member = cursor ~= '' and after(cursor) or nil
  if not member then member = redis.call('ZRANGE', keys.held, 0, 0)[1] end
  while member do
    local scope = heldParts(member)
    if seen[scope] then return scopes, false end
    if #scopes >= limit then return scopes, true end
    seen[scope] = true
    scopes[#scopes + 1] = scope
    member = after(scope) or redis.call('ZRANGE', keys.held, 0, 0)[1]
  end
  return scopes, false
end

-- Whether the shard holds any task under scope.
local function holdsAny(keys, scope)
  return #heldOf(keys, scope, 1) > 0
end

-- The value of a task that becomes held with its member's due time.
local function heldValue(raw, dueAt)
  return 'h' .. struct.pack('>I6', dueAt) .. string.sub(raw, 8)
end

-- Removes the held member of a task in state 'h' (raw its value): the
-- member is under its topic or its error class, at the due time its token
-- field keeps. Needs includes/pauses.lua (taskScopes).
local function leaveHeld(keys, id, raw)
  if not raw or string.sub(raw, 1, 1) ~= 'h' or not taskReadable(raw) then return end
  local dueAt = struct.unpack('>I6', raw, 2)
  local topic, class = taskScopes(raw)
  local members = { heldMember('topic:' .. topic, dueAt, id) }
  if class ~= '' then members[2] = heldMember('error:' .. class, dueAt, id) end
  redis.call('ZREM', keys.held, unpack(members))
end
