--[[
  Decides, for a batch of records just read from Kafka, which may be handled
  now. Fresh records are only read here: a record whose aggregate is busy
  is parked by the batch's schedule call (schedule-10.lua), which checks
  the aggregate again and appends it behind the head in one step, so no
  record is handled ahead of its aggregate's queue (DESIGN.md invariant 2)
  and the bytes of the records that run at once never cross to Redis.

  KEYS[1..10] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     leaseMs: a republished record that may run gets a lease this
              long (the consumer extends it while its handler runs)
  ARGV[2]     the fresh records, packed: per record a big-endian I2 length
              and the message id, then an I2 length and the aggregate id
              ('' for none)
  ARGV[3]     m, the number of republished records
  then 2 per republished record: the task id and the delivery attempt
  from its headers

  Returns { codes, tokens } where
    codes   one byte per fresh record, in order:
              'g' go: handle it now
              'p' park: its aggregate has a task due, waiting or in flight;
                  store it behind that task (attempt 0) and do not handle it
              'd' duplicate: its message id is already a task
    tokens  one { code, token } per republished record:
              1  go: handle it; token is the new fencing token its outcome
                 must carry
              3  stale: its task is gone, its attempt is no longer the
                 current one, a consumer already took that attempt (and
                 still holds its lease), or it is doomed (an operator
                 killed it, or it died and its dead letter is pending):
                 skip it
]]
--@include now-ms
--@include task
--@include shard-keys

local keys = shardKeys()
local lease = tonumber(ARGV[1])
local packed = ARGV[2]
local m = tonumber(ARGV[3])

-- fresh records: one HMGET for dedup, one for the aggregates (redis.call has a fixed cost per call)
local ids, aggOf, aggList, seenAgg = {}, {}, {}, {}
local at = 1
while at <= #packed do
  local id, agg
  id, agg, at = struct.unpack('>I2c0I2c0', packed, at)
  ids[#ids + 1] = id
  aggOf[#ids] = agg
  if agg ~= '' and not seenAgg[agg] then
    seenAgg[agg] = true
    aggList[#aggList + 1] = agg
  end
end
local codes = {}
if #ids > 0 then
  local exists = redis.call('HMGET', keys.tasks, unpack(ids))
  local busy = {}
  if #aggList > 0 then
    local heads = redis.call('HMGET', keys.aggs, unpack(aggList))
    for k, agg in ipairs(aggList) do
      if heads[k] then busy[agg] = true end
    end
  end
  for i = 1, #ids do
    if exists[i] then
      codes[i] = 'd'
    elseif busy[aggOf[i]] then
      codes[i] = 'p'
    else
      codes[i] = 'g'
    end
  end
end

-- republished records
local tokens = {}
if m > 0 then
  local now = nowMs()
  for i = 0, m - 1 do
    local id, attempt = ARGV[4 + i * 2], tonumber(ARGV[5 + i * 2])
    -- The attempt decides, not the claim token: a copy republished again
    -- after its lease ran out carries the same attempt. The first copy of
    -- the attempt to arrive takes the task (a new token, a fresh lease);
    -- later copies are stale while that lease holds.
    -- an unreadable task goes to the dead set (readTask); its copy is stale.
    -- A doomed task's dispatch writes its dead letter: a late copy must not run it.
    local t = readTask(keys, id, now)
    local leaseEnd = tonumber(redis.call('ZSCORE', keys.inflight, id) or 0)
    if t and t[3] == 'f' and t[8] == '' and t[1] + 1 == attempt and ((t[11] or 0) ~= attempt or leaseEnd <= now) then
      local token = redis.call('INCR', keys.seq)
      t[2] = token
      t[11] = attempt
      setTask(keys, id, t)
      redis.call('ZADD', keys.inflight, now + lease, id)
      tokens[#tokens + 1] = { 1, token }
    else
      tokens[#tokens + 1] = { 3, 0 }
    end
  end
end
return { table.concat(codes), tokens }
