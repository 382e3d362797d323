--[[
  Decides, for a batch of records just read from Kafka, which may be handled
  now. The check and the parking are one step (DESIGN.md invariant 2).

  KEYS[1..8]  the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     n, the number of records
  then 4 per record:
    kind      'f' a fresh record, 'r' a record republished by a worker
    id        'f': its message id; 'r': the task id from its headers
    agg       'f': aggregate id ('' none); 'r': the fencing token from its headers
    rec       'f': the record's bytes (stored only if it must wait); 'r': ''

  Returns one code per record:
    1  go: handle it now
    2  parked: its aggregate has a task waiting or in flight, so it was stored
       behind it (attempt 0) and must not be handled now
    0  duplicate: a fresh record whose message id is already a task
    3  stale: a republished record whose task is gone or whose claim is no
       longer the current one; skip it
]]
--@include now-ms
--@include meta
--@include wake
--@include waiting
--@include shard-keys
--@include store-task

local keys = shardKeys(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
for i = 0, n - 1 do
  local b = 3 + i * 4
  local kind, id, agg = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  if kind == 'r' then
    local m = getMeta(keys.meta, id)
    if m and m[3] == 'f' and tostring(m[2]) == agg then
      out[#out + 1] = 1
    else
      out[#out + 1] = 3
    end
  elseif redis.call('HEXISTS', keys.meta, id) == 1 then
    out[#out + 1] = 0
  elseif agg ~= '' and redis.call('HEXISTS', keys.aggs, agg) == 1 then
    out[#out + 1] = storeTask(keys, now, id, agg, now, 0, 0, '', ARGV[b + 3], '')
  else
    out[#out + 1] = 1
  end
end
return out
