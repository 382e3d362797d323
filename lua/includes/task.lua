-- A task is ONE field of the shard's tasks hash: task id -> a binary value
-- (big-endian, Lua struct formats; src/store/task-value.ts reads it too):
--   state    c1  'd' due, 'f' in flight, 'w' waiting behind its head, 'x' dead,
--                'p' due but held back by a dispatch pause, 'c' waiting but
--                claimed with its head in a chain (claim-11.lua): in flight
--                under the head's lease while token equals the head's
--                token and the head is in flight (chain.lua), else waiting
--   token    I6  fencing token, changes at every claim; while the state is
--                'h' (held by a dispatch limit, no lease out) the due time of
--                its held member instead (includes/held.lua)
--   taken    I4  republish mode: the delivery attempt a consumer admitted since
--                the last claim (0: none yet)
--   attempt  I4  handler attempts made so far (0: parked, never tried)
--   first    I6  first-failure time (ms, Redis clock; 0 if never failed)
--   seq      I6  its place in its aggregate's queue (waiting.lua)
--   agg      I2 length + bytes: aggregate id ('' when the task has none)
--   doom     I2 length + bytes: '' or why it must go to the dead-letter topic
--                at its next dispatch, without running the handler
--   err      I4 length + bytes: last error, opaque JSON from the client
--   record   the rest: the Kafka record, opaque client bytes (record-codec.ts)
-- The first three fields have fixed offsets, so a claim rewrites them with
-- one struct.pack and a string.sub, without decoding the rest.
-- Decoded, a task is m = { attempt, token, state, agg, first, err, nil, doom,
-- nil, seq, taken, raw = value, at = offset of the record in raw }.
local TASK_FORMAT = '>c1I6I4I4I6I6I2c0I2c0I4c0'
local TASK_LEASE_BYTES = 11 -- state, token, taken

local function decodeTask(raw)
  if not raw then return nil end
  local ok, state, token, taken, attempt, first, seq, agg, doom, err, at = pcall(struct.unpack, TASK_FORMAT, raw)
  if not ok or type(at) ~= 'number' or at > #raw + 1 then return nil end
  return { attempt, token, state, agg, first, err, nil, doom, nil, seq, taken, raw = raw, at = at }
end

-- Whether raw is a readable task value, checked through its length fields
-- without decoding it (claim and ack run this for every task).
local function taskReadable(raw)
  if not raw or #raw < 35 then return false end
  local doomAt = 30 + struct.unpack('>I2', raw, 28)
  if #raw < doomAt + 5 then return false end
  local errAt = doomAt + 2 + struct.unpack('>I2', raw, doomAt)
  if #raw < errAt + 3 then return false end
  return errAt + 4 + struct.unpack('>I4', raw, errAt) <= #raw + 1
end

-- The state, token and whether the task has an aggregate, from fixed offsets.
local function taskLease(raw)
  local state, token = struct.unpack('>c1I6', raw)
  return state, token, struct.unpack('>I2', raw, 28) > 0
end

-- The aggregate id of a readable value, without decoding the rest.
local function taskAggregate(raw)
  return string.sub(raw, 30, 29 + struct.unpack('>I2', raw, 28))
end

-- Whether a readable value is doomed (its dispatch only writes the dead letter).
local function taskDoomed(raw)
  return struct.unpack('>I2', raw, 30 + struct.unpack('>I2', raw, 28)) > 0
end

-- The record bytes of a decoded task.
local function taskRecord(m)
  return string.sub(m.raw, m.at)
end

local function encodeTask(m, rec)
  -- struct.pack would keep only the low 16 bits of a longer length and corrupt the value
  if #m[4] > 65535 or #m[8] > 65535 then error('zretry: an aggregate id or doom reason is longer than 65535 bytes') end
  return struct.pack(TASK_FORMAT, m[3], m[2], m[11] or 0, m[1], m[5], m[10] or 0,
    #m[4], m[4], #m[8], m[8], #m[6], m[6]) .. (rec or taskRecord(m))
end

-- The task's value with a new state, the rest kept as it is.
local function withState(raw, state)
  return state .. string.sub(raw, 2)
end

-- The task's value with a new state and token, taken reset: the rest is kept as it is.
local function withLease(raw, state, token)
  return struct.pack('>c1I6I4', state, token, 0) .. string.sub(raw, TASK_LEASE_BYTES + 1)
end

-- A task by id, for paths that must not stop on bad data: nil when there is
-- none, false when its value cannot be read; such an id is put in the dead
-- set (its value kept) for an operator to see in `zretry dead list`.
local function readTask(keys, id, now)
  local raw = redis.call('HGET', keys.tasks, id)
  if not raw then return nil end
  local m = decodeTask(raw)
  if m then return m end
  redis.call('ZADD', keys.dead, now, id)
  return false
end

-- What list and get show for a task whose value cannot be read.
local UNREADABLE_ERR = '["ZRetryUnreadable","the stored task value cannot be read (corrupted data)"]'

local function setTask(keys, id, m)
  redis.call('HSET', keys.tasks, id, encodeTask(m))
end

-- Where a stored record came from: its topic, partition and offset (a
-- number), read off the front of its bytes (src/store/record-codec.ts: a
-- version byte, the topic, an I4 partition, the offset as text).
local function recordOrigin(rec)
  local ok, topic, partition, offset = pcall(struct.unpack, '>I4c0I4I4c0', rec, 2)
  if not ok then return nil end
  return topic, partition, tonumber(offset)
end
