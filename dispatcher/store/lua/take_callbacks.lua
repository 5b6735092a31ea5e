-- KEYS: callbacks. ARGV: now ms, batch, lease ms. Takes due callbacks, pushing them ahead by the
-- lease so no other worker posts them meanwhile.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[3]), member)
end
return due
