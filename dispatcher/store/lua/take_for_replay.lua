-- KEYS: message, dead letters. ARGV: message id, replacement id, ttl s. Takes a message out of the
-- dead letters once; it then expires like any finished one.
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'replayed_as', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
