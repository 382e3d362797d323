--[[
  Operator: pauses dispatch of a shard: everything ('all'), one topic
  ('topic:<t>') or one error class ('error:<class>'). Claims stop at once;
  tasks the pause holds back wait in the paused set with their due time.

  KEYS[1..11] the shard's keys (includes/shard-keys.lua)
  ARGV[1]     the pause ('all', 'topic:<t>' or 'error:<class>')

  Returns 1 if the pause is new, 0 if it was already on.
]]
--@include now-ms
--@include shard-keys

local keys = shardKeys()
return redis.call('HSETNX', keys.pauses, ARGV[1], nowMs())
