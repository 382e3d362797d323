--[[
  Returns in-flight tasks whose lease ran out to the due set (claim does this
  too; this is for operators and idle shards).

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     limit, the most tasks to reap in this call

  Returns the number of tasks reaped.
]]
--@include now-ms
--@include task
--@include shard-keys
--@include reap-expired

return reapExpired(shardKeys(), nowMs(), tonumber(ARGV[1]))
