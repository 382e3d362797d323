--[[
  Operator: sends tasks to the dead-letter topic. Each is marked doomed; a
  due head (or one a dispatch limit holds) is made due now, so a worker writes its dead letter (without
  running the handler) and kills it, and the follower policy applies. A
  waiting task is written when it reaches the head of its queue.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     wake channel ('' for none)
  ARGV[2]     n
  then n task ids

  Returns one code per id: 1 doomed, -1 gone, -4 in flight, -5 dead already.
]]
--@include now-ms
--@include task
--@include wake
--@include shard-keys
--@include operator-refusal
--@include pauses
--@include held

local keys = shardKeys(ARGV[1])
local n = tonumber(ARGV[2])
local now = nowMs()
local out = {}
for i = 1, n do
  local id = ARGV[2 + i]
  local m, refused = operatorTask(keys, id)
  local code = refused or 1
  if code ~= 1 then
    -- refused
  elseif m[3] == 'x' then
    code = -5
  else
    m[8] = 'killed-by-operator'
    if m[3] == 'h' then
      -- held back by a dispatch limit (an open breaker, forced or not): a
      -- doomed task needs no token, so it leaves the held set and is due now
      leaveHeld(keys, id, m.raw)
      m[3] = 'd'
    end
    if m[3] == 'd' then
      addDue(keys.due, keys.channel, id, now)
    end
    setTask(keys, id, m)
  end
  out[#out + 1] = code
end
return out
