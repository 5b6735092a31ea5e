-- Counters the door keeps in hashes with an expiry (the pumping guard's windows, the month's
-- spend): the field '~' marks a hash whose expiry is set, so it is set once.

-- write_counters: HSET ``fields`` (name, value, ...) on ``key``, and on a hash without its
-- expiry yet, the mark and ``expire`` (EXPIRE or PEXPIRE) ``ttl``.
local function write_counters(key, fields, expiry_set, expire, ttl)
  if #fields == 0 then return end
  if not expiry_set then
    table.insert(fields, '~')
    table.insert(fields, '1')
  end
  redis.call('HSET', key, unpack(fields))
  if not expiry_set then redis.call(expire, key, ttl) end
end
