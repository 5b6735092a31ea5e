-- opted_out: whether any of a message's opt-out entries (comma-separated digests) is on the
-- opt-out list (one HMGET).
local function opted_out(list, checks)
  local digests = {}
  for digest in string.gmatch(checks, '[^,]+') do table.insert(digests, digest) end
  for _, entry in ipairs(redis.call('HMGET', list, unpack(digests))) do
    if entry then return true end
  end
  return false
end
