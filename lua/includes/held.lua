-- The held set (KEYS held): due tasks that a dispatch limit holds back (a
-- rate limit out of tokens, an open breaker, a throttle), kept apart so
-- that a claim does not meet them again in the due set: each is moved once,
-- and a claim with tokens for a scope takes that scope's oldest ones
-- directly. Every member has score 0 and reads
-- '<scope>\0<due time, 13 digits>\0<task id>', so one scope's tasks are one
-- lexicographic range, in due order. The task's state is 'h'. A member whose
-- task is gone or no longer 'h' (skip, retry-now) is stale: it is dropped
-- when a claim meets it.
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

-- The scopes that hold tasks in this shard, at most limit of them, in order.
local function heldScopes(keys, limit)
  local scopes = {}
  local first = redis.call('ZRANGE', keys.held, 0, 0)[1]
  while first and #scopes < limit do
    local scope = heldParts(first)
    scopes[#scopes + 1] = scope
    first = redis.call('ZRANGEBYLEX', keys.held, '(' .. scope .. '\1', '+', 'LIMIT', 0, 1)[1]
  end
  return scopes
end
