--[[
  Operator: makes tasks due now. A due task moves its due time to now
  (retry-now). A dead task comes back with fresh attempts (replay) at its
  old place in its aggregate's queue (its seq, waiting.lua): behind the
  aggregate's head when it has one; when the aggregate is free, or held
  for its dead tasks (the 'hold' policy), the oldest task of its queue
  becomes the head, due now. Every replayed task of the call takes its
  place before any head is chosen, so the dead tasks of an aggregate run in
  their queue order whatever the order of the ids (ids of tasks that died
  in the same millisecond come from the dead set in byte order:
  'orders/0/10' before 'orders/0/9').

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     n
  then n task ids

  Returns one code per id: 1 due now, 2 replayed behind its aggregate's
  head, -1 gone, -3 waiting behind its head (it runs after the head),
  -4 in flight (a worker holds it now), -6 held back by a pause (a task a dispatch limit holds is made due
  now: the next claim holds it again if its limit still has no token), -7 its
  value cannot be read.
]]
--@include now-ms
--@include task
--@include wake
--@include waiting
--@include shard-keys
--@include promote-next
--@include operator-refusal
--@include pauses
--@include held

local keys = shardKeys(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
-- replayed tasks put in their queue (out index -> id), and their aggregates
local placed, touched, aggList = {}, {}, {}
for i = 1, n do
  local id = ARGV[2 + i]
  local m, code = operatorTask(keys, id)
  if code then
    -- refused
  elseif m[3] == 'w' then
    code = -3
  elseif m[3] == 'p' then
    code = -6
  elseif m[3] == 'h' then
    -- held by a dispatch limit: due now; the next claim holds it again if its limit still has no token
    leaveHeld(keys, id, m.raw)
    m[3] = 'd'
    setTask(keys, id, m)
    addDue(keys.due, keys.channel, id, now)
    code = 1
  elseif m[3] == 'd' then
    addDue(keys.due, keys.channel, id, now)
    code = 1
  else -- 'x': replay, with fresh attempts and no doom; the last error stays for the handler to see
    redis.call('ZREM', keys.dead, id)
    m[1], m[5], m[8], m[11] = 0, 0, '', 0
    if m[4] == '' then
      m[3] = 'd'
      setTask(keys, id, m)
      addDue(keys.due, keys.channel, id, now)
      code = 1
    else
      m[3] = 'w'
      setTask(keys, id, m)
      redis.call('ZADD', keys.waiting, 0, waitingMember(m[4], m[10] or 0, id))
      if not touched[m[4]] then
        touched[m[4]] = true
        aggList[#aggList + 1] = m[4]
      end
      placed[i] = id
      code = 2
    end
  end
  out[i] = code
end
-- a free or held aggregate: the oldest task of its queue becomes its head
local heads = {}
for _, agg in ipairs(aggList) do
  local head = redis.call('HGET', keys.aggs, agg)
  if not head or head == '' then
    local promoted = promoteNext(keys, agg, now, false)
    if promoted then heads[promoted] = true end
  end
end
for i = 1, n do
  if out[i] == 2 and heads[placed[i]] then out[i] = 1 end
end
return out
