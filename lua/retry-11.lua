--[[
  Puts tasks whose handler failed again back in the due set, one attempt
  further, due delayMs after Redis's now. They stay the head of their
  aggregate.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     n
  then 6 per task: id, token, delayMs, err (the new last error, opaque
  JSON), doom ('' or the reason the task died: writing its dead letter
  failed, so mark the task doomed; its next dispatch writes the dead letter
  again without running the handler), keep ('1': the attempt does not
  count: the handler was throttled, or failed while its breaker is open)

  The attempt count grows by one when the claim ran the handler; a task
  that was doomed when claimed ran none (only its dead-letter write failed),
  so its count stays as it is, as does a task sent back with keep.

  Returns one code per task: 1 rescheduled, -1 gone, -2 lease lost.
]]
--@include now-ms
--@include task
--@include wake
--@include shard-keys
--@include check-lease

local keys = shardKeys(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
for i = 0, n - 1 do
  local b = 3 + i * 6
  local id, token = ARGV[b], ARGV[b + 1]
  local m, code = checkLease(keys, id, token)
  if m then
    local dueAt = now + tonumber(ARGV[b + 2])
    redis.call('ZREM', keys.inflight, id)
    if m[8] == '' and ARGV[b + 5] ~= '1' then m[1] = m[1] + 1 end
    if ARGV[b + 4] ~= '' then m[8] = ARGV[b + 4] end
    m[3] = 'd'
    if m[5] == 0 then m[5] = now end
    m[6] = ARGV[b + 3]
    setTask(keys, id, m)
    addDue(keys.due, keys.channel, id, dueAt)
    code = 1
  end
  out[#out + 1] = code
end
return out
