--[[
  Removes tasks that died (their dead letter is already written) and decides
  the fate of the tasks waiting behind each one, by policy:
    release      the next waiting task becomes due now (the default)
    dead-letter  the next waiting task is due now, marked doomed: its
                 dispatch writes it to the dead-letter topic and kills it,
                 which dooms the next, until the queue is empty
    hold         the aggregate stays blocked (new records park behind it)
                 until an operator releases it

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     policy
  ARGV[3]     keep: 1 to keep the dead task in the dead set for inspection
              and replay, 0 to delete it
  ARGV[4]     n
  then 3 per task: id, token, err (the final error, opaque JSON)

  Returns one code per task: 1 killed, -1 gone, -2 lease lost.
]]
--@include now-ms
--@include task
--@include wake
--@include waiting
--@include shard-keys
--@include promote-next
--@include check-lease
--@include leave-head

local keys = shardKeys(ARGV[1])
local policy = ARGV[2]
local keep = ARGV[3] == '1'
local n = tonumber(ARGV[4])
local now = nowMs()
local out = {}
for i = 0, n - 1 do
  local b = 5 + i * 3
  local id, token = ARGV[b], ARGV[b + 1]
  local m, code = checkLease(keys, id, token)
  if m then
    redis.call('ZREM', keys.inflight, id)
    -- a doomed head was itself killed by a predecessor's 'dead-letter' policy: the chain goes on
    local chain = m[8] == 'predecessor-died'
    leaveAggregate(keys, id, m, now, policy == 'dead-letter' or chain, policy == 'hold' and not chain)
    if keep then
      -- the attempt that just failed counts, as in the dead letter's zretry-attempt header;
      -- a doomed task died without a run, its count is already complete
      if m[8] == '' or m[8] == nil then m[1] = m[1] + 1 end
      m[3] = 'x'
      m[6] = ARGV[b + 2]
      setTask(keys, id, m)
      redis.call('ZADD', keys.dead, now, id)
    else
      redis.call('HDEL', keys.tasks, id)
    end
    code = 1
  end
  out[#out + 1] = code
end
return out
