--[[
  Operator: lifts a pause and returns the tasks it held back to the due set
  (with their due time; those already due run at once), in bounded steps.

  KEYS[1..10] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     the pause to lift ('' to only continue moving tasks back)
  ARGV[3]     offset into the paused set where this step starts
  ARGV[4]     limit, the most tasks to look at in this step

  Returns { moved, next } where next is the offset for the following step,
  or -1 when the paused set has been gone through. Tasks that another pause
  still holds stay in the paused set.
]]
--@include now-ms
--@include task
--@include wake
--@include shard-keys
--@include pauses

local keys = shardKeys(ARGV[1])
if ARGV[2] ~= '' then redis.call('HDEL', keys.pauses, ARGV[2]) end
local pauses = loadPauses(keys)
local now = nowMs()
local offset = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local moved = 0
local members = redis.call('ZRANGE', keys.paused, offset, offset + limit - 1, 'WITHSCORES')
for i = 1, #members, 2 do
  local id, score = members[i], tonumber(members[i + 1])
  -- gone, or unreadable (readTask puts it in the dead set): no longer paused
  local m = readTask(keys, id, now)
  if not m then
    redis.call('ZREM', keys.paused, id)
  elseif (pauses and pauses.all) or filteredOut(pauses, m, taskRecord(m)) then
    offset = offset + 1
  else
    redis.call('ZREM', keys.paused, id)
    m[3] = 'd'
    setTask(keys, id, m)
    addDue(keys.due, keys.channel, id, score)
    moved = moved + 1
  end
end
if ARGV[2] ~= '' and ARGV[1] ~= '' then redis.call('SPUBLISH', ARGV[1], 0) end
if #members < limit * 2 then offset = -1 end
return { moved, offset }
