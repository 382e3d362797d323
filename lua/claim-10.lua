--[[
  Claims due tasks: moves up to n tasks whose due time has come from the due
  set to the in-flight set, each with a new fencing token and a lease. First
  reaps leases that ran out, so a dead worker's tasks come back by themselves.
  Honours dispatch pauses: with 'all' nothing is claimed; a due task whose
  topic or error class is paused moves to the paused set instead.

  KEYS[1..10] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     n, the most tasks to claim
  ARGV[2]     leaseMs, how long the claimer holds each task
  ARGV[3]     reap limit, the most expired leases to return per call

  Returns { now, next, reaped, corrupt, claimed } where
    now      Redis's time (ms)
    next     the earliest time something else needs doing: the next due
             time or lease deadline, -1 if the shard is idle (or paused)
    reaped   how many expired leases were returned to the due set
    corrupt  a list of ids whose task value could not be read; they were moved
             to the dead set for an operator to inspect
    claimed  the claimed tasks in one string (one reply element instead of
             three per task), each: id length (I2), id, the due time it was
             claimed at (I6, for lateness), value length (I4), and the
             task's value as now stored (includes/task.lua): in flight, with
             its new token; the client decodes it
]]
--@include now-ms
--@include task
--@include shard-keys
--@include reap-expired
--@include pauses

local keys = shardKeys()
local n = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local now = nowMs()
local reaped = reapExpired(keys, now, tonumber(ARGV[3]))
local pauses = loadPauses(keys)

local out = { now, -1, reaped, {}, '' }
local claimedParts = {}
local claimed, examined = 0, 0
-- one call per kind of write for the whole batch: redis.call has a fixed cost per call
while not (pauses and pauses.all) and claimed < n and examined < n + 1000 do
  local due = redis.call('ZRANGEBYSCORE', keys.due, '-inf', now, 'WITHSCORES', 'LIMIT', 0, n - claimed)
  if #due == 0 then break end
  local ids, scores = {}, {}
  for i = 1, #due, 2 do
    ids[#ids + 1] = due[i]
    scores[#scores + 1] = due[i + 1]
  end
  examined = examined + #ids
  -- the members just read are the lowest ranks of the set
  redis.call('ZREMRANGEBYRANK', keys.due, 0, #ids - 1)
  local raws = redis.call('HMGET', keys.tasks, unpack(ids))
  local token = redis.call('INCRBY', keys.seq, #ids) - #ids
  local taskArgs, leaseArgs, pausedArgs, deadArgs = {}, {}, {}, {}
  for k, id in ipairs(ids) do
    local raw = raws[k]
    local m = pauses and pauses.any and taskReadable(raw) and decodeTask(raw)
    if not taskReadable(raw) then
      table.insert(out[4], id)
      deadArgs[#deadArgs + 1] = now
      deadArgs[#deadArgs + 1] = id
    elseif m and filteredOut(pauses, m, taskRecord(m)) then
      m[3] = 'p'
      taskArgs[#taskArgs + 1] = id
      taskArgs[#taskArgs + 1] = encodeTask(m)
      pausedArgs[#pausedArgs + 1] = scores[k]
      pausedArgs[#pausedArgs + 1] = id
    else
      token = token + 1
      local value = withLease(raw, 'f', token)
      taskArgs[#taskArgs + 1] = id
      taskArgs[#taskArgs + 1] = value
      leaseArgs[#leaseArgs + 1] = now + lease
      leaseArgs[#leaseArgs + 1] = id
      claimedParts[#claimedParts + 1] = struct.pack('>I2c0I6I4', #id, id, tonumber(scores[k]), #value) .. value
      claimed = claimed + 1
    end
  end
  if #taskArgs > 0 then redis.call('HSET', keys.tasks, unpack(taskArgs)) end
  if #leaseArgs > 0 then redis.call('ZADD', keys.inflight, unpack(leaseArgs)) end
  if #pausedArgs > 0 then redis.call('ZADD', keys.paused, unpack(pausedArgs)) end
  if #deadArgs > 0 then redis.call('ZADD', keys.dead, unpack(deadArgs)) end
end

out[5] = table.concat(claimedParts)

local nextDue = redis.call('ZRANGE', keys.due, 0, 0, 'WITHSCORES')[2]
local nextLease = redis.call('ZRANGE', keys.inflight, 0, 0, 'WITHSCORES')[2]
if nextDue and not (pauses and pauses.all) then out[2] = tonumber(nextDue) end
if nextLease and (out[2] == -1 or tonumber(nextLease) < out[2]) then out[2] = tonumber(nextLease) end
return out
