--[[
  Completes tasks whose handler succeeded: deletes them and makes the next
  task of each one's aggregate due now.

  KEYS[1..10] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     n
  then 2 per task: id, token (the fencing token of the claim)

  Returns one code per task: 1 acked, -1 gone, -2 lease lost (stale token:
  another claim owns the task now, nothing was changed).
]]
--@include now-ms
--@include task
--@include wake
--@include waiting
--@include shard-keys
--@include promote-next
--@include leave-head

local keys = shardKeys(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
if n == 0 then return out end
-- one read and one write per key for the whole batch: redis.call has a fixed cost per call
local ids = {}
for i = 0, n - 1 do ids[#ids + 1] = ARGV[3 + i * 2] end
local raws = redis.call('HMGET', keys.tasks, unpack(ids))
local done, seen = {}, {}
local metas = {}
for i = 0, n - 1 do
  local id, token = ARGV[3 + i * 2], ARGV[4 + i * 2]
  local raw = raws[i + 1]
  local code
  if not taskReadable(raw) or seen[id] then
    code = -1
  else
    local state, current, hasAgg = taskLease(raw)
    if state ~= 'f' or current ~= tonumber(token) then
      code = -2
    else
      code = 1
      seen[id] = true
      done[#done + 1] = id
      -- only a task of an aggregate is decoded: its queue moves on
      if hasAgg then metas[#done] = decodeTask(raw) end
    end
  end
  out[#out + 1] = code
end
if #done > 0 then
  redis.call('ZREM', keys.inflight, unpack(done))
  redis.call('HDEL', keys.tasks, unpack(done))
  for k, id in ipairs(done) do
    if metas[k] then leaveAggregate(keys, id, metas[k], now, false, false) end
  end
end
return out
