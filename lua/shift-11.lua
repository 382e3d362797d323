--[[
  Operator: pushes due times back by deltaMs (during a downstream outage),
  in bounded steps of one kind. Each step takes the latest-due tasks not
  yet moved (due at or before the cursor, latest first) and makes each due
  deltaMs later, in the due set itself. A moved task lands after the
  cursor, so no later step meets it again. No task ever leaves the due set
  or changes state: a shift that stops between two steps (Ctrl-C, a Redis
  error) leaves every task due, listed and claimable (the latest pushed
  back, the rest not), and retry-now, kill, skip and claim meet each task
  as it is at any moment.

  Before the first step, the steps return the tasks that an interrupted
  shift of an older zretry (which moved tasks out to the shifting set and
  back in a second phase) stranded there: a task still due (state 'd') and
  not in the due set goes back to it at the time that shift gave it; any
  other entry is dropped. Then the walk pushes them back with the rest.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     deltaMs, a whole number > 0
  ARGV[2]     cursor: '+inf' for the first step, else what the step before
              returned
  ARGV[3]     limit, the most tasks one step moves

  Returns { moved, cursor }: how many due times this step pushed back, and
  the cursor of the next step, '' when the shift is done. An error reply
  when deltaMs is not a whole number > 0.
]]
--@include task
--@include shard-keys

local keys = shardKeys()
local delta = tonumber(ARGV[1])
if not delta or delta < 1 or delta ~= math.floor(delta) then
  return redis.error_reply('zretry: shift needs deltaMs, a whole number > 0 (got ' .. tostring(ARGV[1]) .. ')')
end
local cursor = ARGV[2]
local limit = tonumber(ARGV[3])

local stranded = redis.call('ZRANGE', keys.shifting, 0, limit - 1, 'WITHSCORES')
if #stranded > 0 then
  for i = 1, #stranded, 2 do
    local id = stranded[i]
    redis.call('ZREM', keys.shifting, id)
    local m = decodeTask(redis.call('HGET', keys.tasks, id))
    if m and m[3] == 'd' and not redis.call('ZSCORE', keys.due, id) then
      redis.call('ZADD', keys.due, stranded[i + 1], id)
    end
  end
  return { 0, cursor }
end

local members = redis.call('ZRANGE', keys.due, cursor, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, limit, 'WITHSCORES')
local args = {}
for i = 1, #members, 2 do
  args[#args + 1] = tonumber(members[i + 1]) + delta
  args[#args + 1] = members[i]
  cursor = members[i + 1]
end
if #args > 0 then redis.call('ZADD', keys.due, 'XX', unpack(args)) end
if #members < limit * 2 then cursor = '' end
return { #members / 2, cursor }
