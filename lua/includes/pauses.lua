-- Dispatch pauses of a shard (KEYS pauses): 'all', 'topic:<t>', 'error:<class>'.
-- Returns nil when nothing is paused, else { all, any, topics, classes }.
local function loadPauses(keys)
  local fields = redis.call('HKEYS', keys.pauses)
  if #fields == 0 then return nil end
  local p = { all = false, any = false, topics = {}, classes = {} }
  for _, f in ipairs(fields) do
    if f == 'all' then
      p.all = true
    elseif string.sub(f, 1, 6) == 'topic:' then
      p.topics[string.sub(f, 7)] = true
      p.any = true
    elseif string.sub(f, 1, 6) == 'error:' then
      p.classes[string.sub(f, 7)] = true
      p.any = true
    end
  end
  return p
end

-- The topic of a stored record (src/store/record-codec.ts: a version byte,
-- then the topic as a big-endian u32 length and its bytes).
local function recordTopic(rec)
  if not rec or #rec < 5 then return '' end
  local len = struct.unpack('>I4', rec, 2)
  return string.sub(rec, 6, 5 + len)
end

-- The class of a stored last error (JSON [class, message, stack?]): read
-- off the front of the text when it has no escapes (class names rarely do),
-- else decoded; a claim under a pause asks this of every task it meets.
local function errorClass(err)
  if not err or err == '' then return '' end
  local quick = string.match(err, '^%["([^"\\]*)"')
  if quick then return quick end
  local ok, e = pcall(cjson.decode, err)
  if ok and type(e) == 'table' and type(e[1]) == 'string' then return e[1] end
  return ''
end

-- Whether the topic or error pauses in p hold back a task ('all' is the caller's).
local function filteredOut(p, m, rec)
  if not p or not p.any then return false end
  return p.topics[recordTopic(rec)] == true or p.classes[errorClass(m[6])] == true
end

-- The topic and error class of a readable task value, read through its
-- length fields without decoding it (the claim asks this of every task it
-- meets under a pause or a dispatch limit). The class is read in place off
-- the front of the error, which is copied out (it may carry a stack) only
-- when it has escapes.
local function taskScopes(raw)
  local doomAt = 30 + struct.unpack('>I2', raw, 28)
  local errAt = doomAt + 2 + struct.unpack('>I2', raw, doomAt)
  local errLen = struct.unpack('>I4', raw, errAt)
  -- the record: a version byte, then the topic's I4 length and bytes (recordTopic), not copied whole
  local recAt = errAt + 4 + errLen
  local topic = ''
  if #raw >= recAt + 4 then topic = string.sub(raw, recAt + 5, recAt + 4 + struct.unpack('>I4', raw, recAt + 1)) end
  if errLen == 0 then return topic, '' end
  local class = string.match(raw, '^%["([^"\\]*)"', errAt + 4)
  if class and #class + 4 <= errLen then return topic, class end
  return topic, errorClass(string.sub(raw, errAt + 4, errAt + 3 + errLen))
end

-- filteredOut for a readable task value, without decoding it.
local function heldBack(p, raw)
  local topic, class = taskScopes(raw)
  return p.topics[topic] == true or p.classes[class] == true
end
