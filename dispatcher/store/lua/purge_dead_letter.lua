-- KEYS: message, dead letters. ARGV: message id. Deletes a dead letter for good.
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[1])
return 1
