--[[
  Completes tasks whose handler succeeded: deletes them and makes the next
  task of each one's aggregate due now. A chain (claim-11.lua) is acked in
  the same call: its head, then the followers that succeeded, in order;
  when a follower failed, the tail says what becomes of it: it leaves the
  waiting set and becomes the aggregate's head, either due again after a
  backoff ('r') or in flight under the chain's lease and token ('h', so the
  worker can write its dead letter and kill it as any claimed task), and
  the followers after it stay waiting behind it.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     leaseMs, the lease of a follower handed over with 'h'
  ARGV[3]     n, the number of items
  then per item:
    id        the claimed task (a chain's head)
    token     the fencing token of the claim
    f         the number of followers that succeeded, then their ids in
              chain order
    tail      '' none, 'r', 'k' or 'h': what becomes of the follower that
              failed right after them; with 'r', 'k' or 'h' its id follows,
              and with 'r' or 'k' its delay (ms) and its error (opaque
              JSON); 'k' is 'r' keeping its attempt (the follower was
              throttled, or its breaker is open: dispatch control)

  Returns three numbers per item:
    code      1 acked, -1 gone, -2 lease lost (stale token: another claim
              owns the task now, nothing was changed)
    acked     how many of the followers were acked: each must still carry
              the chain's token; the chain stops at the first that does not
    tail      1 when the tail was applied, else 0
]]
--@include now-ms
--@include task
--@include wake
--@include waiting
--@include shard-keys
--@include promote-next
--@include leave-head

local keys = shardKeys(ARGV[1])
local lease = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local now = nowMs()
local out = {}
if n == 0 then return out end

-- Parse the items; plain acks (no followers, no tail) are the common case
-- and go through one HMGET and one write per key for the whole batch.
local items, at = {}, 4
for i = 1, n do
  local it = { id = ARGV[at], token = tonumber(ARGV[at + 1]), followers = {} }
  local f = tonumber(ARGV[at + 2])
  at = at + 3
  for j = 1, f do it.followers[j] = ARGV[at + j - 1] end
  at = at + f
  it.tail = ARGV[at]
  at = at + 1
  if it.tail == 'r' or it.tail == 'k' then
    it.tailId, it.delay, it.err = ARGV[at], tonumber(ARGV[at + 1]), ARGV[at + 2]
    at = at + 3
  elseif it.tail == 'h' then
    it.tailId = ARGV[at]
    at = at + 1
  end
  items[i] = it
end

local ids = {}
for i, it in ipairs(items) do ids[i] = it.id end
local raws = redis.call('HMGET', keys.tasks, unpack(ids))
local done, seen, metas, chains = {}, {}, {}, {}
for i, it in ipairs(items) do
  local raw = raws[i]
  local code, acked, tail = -1, 0, 0
  if taskReadable(raw) and not seen[it.id] then
    local state, current, hasAgg = taskLease(raw)
    if state ~= 'f' or current ~= it.token then
      code = -2
    else
      code = 1
      seen[it.id] = true
      done[#done + 1] = it.id
      if #it.followers > 0 or it.tail ~= '' then
        chains[#chains + 1] = { item = it, head = decodeTask(raw), out = #out + 1 }
      elseif hasAgg then
        -- only a task of an aggregate is decoded: its queue moves on
        metas[#done] = decodeTask(raw)
      end
    end
  end
  out[#out + 1] = code
  out[#out + 1] = acked
  out[#out + 1] = tail
end
if #done > 0 then
  redis.call('ZREM', keys.inflight, unpack(done))
  redis.call('HDEL', keys.tasks, unpack(done))
  for j, id in ipairs(done) do
    if metas[j] then leaveAggregate(keys, id, metas[j], now, false, false) end
  end
end

-- A follower is still the chain's while it carries the chain's token in
-- state 'c'. New tasks join the end of a queue, so the followers are its
-- first tasks, in order, unless an operator replayed an older dead task of
-- the aggregate meanwhile (the tail below then waits behind it).
local function chainMember(raw, token)
  local m = raw and decodeTask(raw)
  if m and m[3] == 'c' and m[2] == token then return m end
  return nil
end

for _, c in ipairs(chains) do
  local it, head = c.item, c.head
  local agg = head[4]
  local acked, broken = 0, false
  -- the followers: one read, one ZREM and one HDEL for the whole prefix
  if #it.followers > 0 then
    local raws = redis.call('HMGET', keys.tasks, unpack(it.followers))
    local members = {}
    for j, fid in ipairs(it.followers) do
      local m = chainMember(raws[j], it.token)
      if not m then
        broken = true
        break
      end
      members[j] = waitingMember(agg, m[10], fid)
      acked = j
    end
    if acked > 0 then
      redis.call('ZREM', keys.waiting, unpack(members))
      redis.call('HDEL', keys.tasks, unpack(it.followers, 1, acked))
    end
  end
  out[c.out + 1] = acked
  local t = not broken and it.tailId and chainMember(redis.call('HGET', keys.tasks, it.tailId), it.token)
  if t then
    local member = waitingMember(agg, t[10], it.tailId)
    if it.tail == 'r' or it.tail == 'k' then
      if it.tail == 'r' then t[1] = t[1] + 1 end
      if t[5] == 0 then t[5] = now end
      t[6] = it.err
    end
    if it.tail ~= 'h' and firstWaiting(keys.waiting, agg) ~= member then
      -- an operator's dead replay put an older task of the aggregate in front
      -- of the followers (a replayed task goes back to the place it kept):
      -- the failed follower waits behind it, its attempt counted, and the
      -- oldest becomes the head, due now; the follower is due when its turn
      -- comes
      t[3] = 'w'
      setTask(keys, it.tailId, t)
      promoteNext(keys, agg, now, false)
    else
      redis.call('ZREM', keys.waiting, member)
      redis.call('HSET', keys.aggs, agg, it.tailId)
      if it.tail == 'h' then
        t[3] = 'f'
        setTask(keys, it.tailId, t)
        redis.call('ZADD', keys.inflight, now + lease, it.tailId)
      else
        t[3] = 'd'
        setTask(keys, it.tailId, t)
        addDue(keys.due, keys.channel, it.tailId, now + it.delay)
      end
    end
    out[c.out + 2] = 1
  elseif agg ~= '' and redis.call('HGET', keys.aggs, agg) == it.id then
    -- the chain ran out (or broke): the next in the queue is due now
    promoteNext(keys, agg, now, false)
  end
end
return out
