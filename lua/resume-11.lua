--[[
  Operator: lifts a pause and returns the tasks it held back to the due set
  (with their due time; those already due run at once), in bounded steps
  that walk the paused set in its order. Each step goes on just after the
  last task the step before looked at, found by that task's score and id,
  not by position: tasks removed (skip) or added (claim) between two steps
  make it skip nothing.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     the pause to lift ('' to only continue moving tasks back)
  ARGV[3]     the score (due time) of the last task the step before looked
              at, '' for the first step
  ARGV[4]     that task's id ('' for the first step)
  ARGV[5]     limit, the most tasks to look at in this step

  Returns { moved, score, id }: how many tasks this step moved back, and
  the score and id of the last task it looked at, for the next step; score
  is '' when the paused set has been gone through. Tasks that another pause
  still holds stay in the paused set.
]]
--@include now-ms
--@include task
--@include wake
--@include shard-keys
--@include pauses

-- The rank of the first member after (score, id) in key's order, whether
-- id is still there, was removed, or came back with another score: id is
-- put at score to count the members before it, then restored (or
-- removed), unseen outside this script.
local function rankAfter(key, score, id)
  local was = redis.call('ZSCORE', key, id)
  redis.call('ZADD', key, score, id)
  local before = redis.call('ZRANK', key, id)
  if not was then
    redis.call('ZREM', key, id)
    return before
  end
  redis.call('ZADD', key, was, id)
  -- id itself counts when it sits at or before score
  if tonumber(was) <= tonumber(score) then return before + 1 end
  return before
end

local keys = shardKeys(ARGV[1])
if ARGV[2] ~= '' then redis.call('HDEL', keys.pauses, ARGV[2]) end
local pauses = loadPauses(keys)
local now = nowMs()
local limit = tonumber(ARGV[5])
local start = 0
if ARGV[3] ~= '' then start = rankAfter(keys.paused, ARGV[3], ARGV[4]) end
local members = redis.call('ZRANGE', keys.paused, start, start + limit - 1, 'WITHSCORES')
local moved, lastScore, lastId = 0, '', ''
for i = 1, #members, 2 do
  local id, score = members[i], members[i + 1]
  lastScore, lastId = score, id
  -- gone, or unreadable (readTask puts it in the dead set): no longer paused
  local m = readTask(keys, id, now)
  if not m then
    redis.call('ZREM', keys.paused, id)
  elseif not ((pauses and pauses.all) or filteredOut(pauses, m, taskRecord(m))) then
    redis.call('ZREM', keys.paused, id)
    m[3] = 'd'
    setTask(keys, id, m)
    addDue(keys.due, keys.channel, id, tonumber(score))
    moved = moved + 1
  end
end
if ARGV[2] ~= '' and ARGV[1] ~= '' then redis.call('SPUBLISH', ARGV[1], 0) end
if #members < limit * 2 then lastScore = '' end
return { moved, lastScore, lastId }
