--[[
  Decides, for a batch of records just read from Kafka, which may be handled
  now. The check and the parking are one step (DESIGN.md invariant 2).

  KEYS[1..10] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     leaseMs: a republished record that may run gets a lease this
              long (the consumer extends it while its handler runs)
  ARGV[3]     n, the number of records
  then 4 per record:
    kind      'f' a fresh record, 'r' a record republished by a worker
    id        'f': its message id; 'r': the task id from its headers
    agg       'f': aggregate id ('' none); 'r': the delivery attempt from its headers
    rec       'f': the record's bytes (stored only if it must wait); 'r': ''

  Returns one { code, token } per record:
    1  go: handle it now; for a republished record, token is the new fencing
       token its outcome must carry
    2  parked: its aggregate has a task waiting or in flight, so it was stored
       behind it (attempt 0) and must not be handled now
    0  duplicate: a fresh record whose message id is already a task
    3  stale: a republished record whose task is gone, whose attempt is no
       longer the current one, or whose attempt a consumer already took
       (and still holds the lease of); skip it
]]
--@include now-ms
--@include task
--@include wake
--@include waiting
--@include shard-keys
--@include store-task

local keys = shardKeys(ARGV[1])
local lease = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local now = nowMs()
local out = {}
for i = 0, n - 1 do
  local b = 4 + i * 4
  local kind, id, agg = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  if kind == 'r' then
    -- The attempt decides, not the claim token: a copy republished again
    -- after its lease ran out carries the same attempt. The first copy of
    -- the attempt to arrive takes the task (a new token, a fresh lease);
    -- later copies are stale while that lease holds.
    -- an unreadable task goes to the dead set (readTask); its copy is stale
    local m = readTask(keys, id, now)
    local attempt = tonumber(agg)
    local leaseEnd = tonumber(redis.call('ZSCORE', keys.inflight, id) or 0)
    if m and m[3] == 'f' and m[1] + 1 == attempt and ((m[11] or 0) ~= attempt or leaseEnd <= now) then
      local token = redis.call('INCR', keys.seq)
      m[2] = token
      m[11] = attempt
      setTask(keys, id, m)
      redis.call('ZADD', keys.inflight, now + lease, id)
      out[#out + 1] = { 1, token }
    else
      out[#out + 1] = { 3, 0 }
    end
  elseif redis.call('HEXISTS', keys.tasks, id) == 1 then
    out[#out + 1] = { 0, 0 }
  elseif agg ~= '' and redis.call('HEXISTS', keys.aggs, agg) == 1 then
    out[#out + 1] = { storeTask(keys, now, id, agg, now, 0, 0, '', ARGV[b + 3], ''), 0 }
  else
    out[#out + 1] = { 1, 0 }
  end
end
return out
