--[[
  Operator: reads tasks by id.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1..n]  task ids

  Returns one entry per id: false when the id is not on this shard, else
  { id, score, attempt, state, agg, first, err, dueAt, doom, rec } as list
  returns them (state is 'due', 'inflight', 'waiting', 'dead', 'paused' or 'held').
]]
--@include task
--@include shard-keys

local keys = shardKeys()
-- a chain's follower ('c') sits in the waiting set: it shows as waiting
local names = { d = 'due', f = 'inflight', w = 'waiting', c = 'waiting', x = 'dead', p = 'paused', h = 'held' }
local sets = { d = keys.due, f = keys.inflight, x = keys.dead, p = keys.paused }
local out = {}
for i, id in ipairs(ARGV) do
  local raw = redis.call('HGET', keys.tasks, id)
  local m = raw and decodeTask(raw)
  if raw and not m then
    local dead = redis.call('ZSCORE', keys.dead, id)
    out[i] = { id, tonumber(dead or 0), 0, dead and 'dead' or 'unreadable', '', 0, UNREADABLE_ERR, tonumber(dead or 0), 'unreadable', '' }
  elseif not m then
    out[i] = false
  else
    local score = 0
    if sets[m[3]] then score = tonumber(redis.call('ZSCORE', sets[m[3]], id) or 0) end
    out[i] = { id, score, m[1], names[m[3]] or m[3], m[4], m[5], m[6], score, m[8], taskRecord(m) }
  end
end
return out
