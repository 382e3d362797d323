--[[
  Decides, for a batch of records just read from Kafka, which may be handled
  now. Fresh records are only read here: a record whose aggregate is busy
  is parked by the batch's schedule call (schedule-11.lua), which checks
  the aggregate again and appends it behind the head in one step, so no
  record is handled ahead of its aggregate's queue (DESIGN.md invariant 2)
  and the bytes of the records that run at once never cross to Redis.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     leaseMs: a republished record that may run gets a lease this
              long (the consumer extends it while its handler runs)
  ARGV[2]     the fresh records, packed: per record a big-endian I2 length
              and the message id, an I2 length and the aggregate id ('' for
              none), and an I2 length and the record's offset (decimal)
  ARGV[3]     m, the number of republished records
  ARGV[4]     the topic and ARGV[5] the partition of the fresh records
  then 2 per republished record: the task id and the delivery attempt
  from its headers

  Returns { codes, tokens } where
    codes   one byte per fresh record, in order:
              'g' go: handle it now
              'p' park: its aggregate has a task due, waiting or in flight;
                  store it behind that task (attempt 0) and do not handle it
              'd' duplicate: its message id is already a task, or it comes
                  before the last task stored of its aggregate from the same
                  partition: it was handled before (a re-read after a crash
                  or a rebalance), and running it now would run it after a
                  later record of its aggregate
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
--@include waiting
--@include shard-keys

local keys = shardKeys()
local lease = tonumber(ARGV[1])
local packed = ARGV[2]
local m = tonumber(ARGV[3])
local topic, partition = ARGV[4], tonumber(ARGV[5])

-- The offset of the last task stored of a busy aggregate, when it came from
-- this topic and partition: the newest waiting one, else its head.
local function lastStoredOffset(agg, head)
  local p = aggPrefix(agg)
  local last = redis.call('ZREVRANGEBYLEX', keys.waiting, '(' .. p .. '\255', '[' .. p, 'LIMIT', 0, 1)[1]
  local id = last and waitingId(agg, last) or head
  if not id or id == '' then return nil end
  local raw = redis.call('HGET', keys.tasks, id)
  local t = raw and decodeTask(raw)
  if not t then return nil end
  local rtopic, rpartition, roffset = recordOrigin(taskRecord(t))
  if rtopic == topic and rpartition == partition then return roffset end
  return nil
end

-- fresh records: one HMGET for dedup, one for the aggregates (redis.call has a fixed cost per call)
local ids, aggOf, offsetOf, aggList, seenAgg = {}, {}, {}, {}, {}
local at = 1
while at <= #packed do
  local id, agg, offset
  id, agg, offset, at = struct.unpack('>I2c0I2c0I2c0', packed, at)
  ids[#ids + 1] = id
  aggOf[#ids] = agg
  offsetOf[#ids] = tonumber(offset)
  if agg ~= '' and not seenAgg[agg] then
    seenAgg[agg] = true
    aggList[#aggList + 1] = agg
  end
end
local codes = {}
if #ids > 0 then
  local exists = redis.call('HMGET', keys.tasks, unpack(ids))
  local busy, headOf, lastOffset = {}, {}, {}
  if #aggList > 0 then
    local heads = redis.call('HMGET', keys.aggs, unpack(aggList))
    for k, agg in ipairs(aggList) do
      if heads[k] then
        busy[agg] = true
        headOf[agg] = heads[k]
      end
    end
  end
  for i = 1, #ids do
    local agg = aggOf[i]
    if exists[i] then
      codes[i] = 'd'
    elseif busy[agg] then
      -- asked once per busy aggregate (records come in offset order)
      if lastOffset[agg] == nil then lastOffset[agg] = lastStoredOffset(agg, headOf[agg]) or false end
      if lastOffset[agg] and offsetOf[i] and offsetOf[i] <= lastOffset[agg] then codes[i] = 'd' else codes[i] = 'p' end
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
    local id, attempt = ARGV[6 + i * 2], tonumber(ARGV[7 + i * 2])
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
