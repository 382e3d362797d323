-- A task's mutable metadata, one msgpack array per task in the meta hash.
--   [1] attempt   handler attempts made so far (0: parked, never tried)
--   [2] token     fencing token, changes at every claim
--   [3] state     'd' due, 'f' in flight, 'w' waiting behind its head, 'x' dead,
--                 'p' due but held back by a dispatch pause
--   [4] agg       aggregate id ('' when the task has none)
--   [5] first     first-failure time (ms, Redis clock; 0 if never failed)
--   [6] err       last error, opaque JSON from the client ('' if none)
--   [7] dueAt     the due time it was last given (ms)
--   [8] doom      '' or why it must go to the dead-letter topic at its next
--                 dispatch, without running the handler ('fatal', 'predecessor-died', ...)
--   [9] created   when the task was stored (ms)
--   [10] seq      its place in its aggregate's queue (waiting.lua)
--   [11] taken    republish mode: the delivery attempt a consumer admitted
--                 since the last claim (0: none yet)
local function getMeta(metaKey, id)
  local raw = redis.call('HGET', metaKey, id)
  if not raw then return nil end
  return cmsgpack.unpack(raw)
end

local function setMeta(metaKey, id, m)
  redis.call('HSET', metaKey, id, cmsgpack.pack(m))
end
