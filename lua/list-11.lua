--[[
  Operator: one page of tasks in a state, in the order of its set.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     state: 'due', 'inflight', 'waiting', 'dead', 'paused' or 'held'
  ARGV[2]     offset into that set
  ARGV[3]     count (at most 1000)

  Returns { total, task... } where total is the size of the set and task is
  { id, score, attempt, state, agg, first, err, dueAt, doom, rec } (score:
  due time, lease deadline, 0 for waiting, or time of death).
]]
--@include task
--@include shard-keys
--@include held

local keys = shardKeys()
local state = ARGV[1]
local from = tonumber(ARGV[2])
local count = math.min(tonumber(ARGV[3]), 1000)
local key = ({ due = keys.due, inflight = keys.inflight, waiting = keys.waiting, dead = keys.dead, paused = keys.paused, held = keys.held })[state]
if not key then return redis.error_reply('unknown state ' .. tostring(state)) end
local out = { redis.call('ZCARD', key) }
local members = redis.call('ZRANGE', key, from, from + count - 1, 'WITHSCORES')
for i = 1, #members, 2 do
  local id = members[i]
  if state == 'held' then
    local _, dueAt
    _, dueAt, id = heldParts(members[i])
    members[i + 1] = dueAt
  elseif state == 'waiting' then
    local len = tonumber(string.sub(id, 1, 8), 16)
    id = string.sub(id, 8 + len + 12 + 1)
  end
  local raw = redis.call('HGET', keys.tasks, id)
  local m = raw and decodeTask(raw)
  if m then
    out[#out + 1] = { id, tonumber(members[i + 1]), m[1], state, m[4], m[5], m[6], tonumber(members[i + 1]), m[8], taskRecord(m) }
  elseif raw then
    out[#out + 1] = { id, tonumber(members[i + 1]), 0, state, '', 0, UNREADABLE_ERR, tonumber(members[i + 1]), 'unreadable', '' }
  end
end
return out
