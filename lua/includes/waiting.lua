-- Members of the shard's waiting set (a ZSET scored 0, ordered by lex) are
--   <8 hex: #agg><agg><12 hex: seq><task id>
-- so one ZRANGEBYLEX finds the oldest waiting task of an aggregate.
local function aggPrefix(agg)
  return string.format('%08x', #agg) .. agg
end

local function waitingMember(agg, seq, id)
  return aggPrefix(agg) .. string.format('%012x', seq) .. id
end

local function waitingId(agg, member)
  return string.sub(member, 8 + #agg + 12 + 1)
end

-- The oldest waiting member of agg, or nil.
local function firstWaiting(waitingKey, agg)
  local p = aggPrefix(agg)
  local r = redis.call('ZRANGEBYLEX', waitingKey, '[' .. p, '(' .. p .. '\255', 'LIMIT', 0, 1)
  return r[1]
end
