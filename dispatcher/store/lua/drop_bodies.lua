-- KEYS: bodies to drop. ARGV: now ms, most to drop, message key prefix. Drops the body of each
-- message whose time has come (a record already gone is left gone); returns how many.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local dropped = 0
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local key = ARGV[3] .. id
  if redis.call('HDEL', key, 'body') == 1 then
    redis.call('HSET', key, 'body_dropped_at_ms', ARGV[1])
    dropped = dropped + 1
  end
end
return dropped
