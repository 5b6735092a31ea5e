-- KEYS: message, dead letters. ARGV: message id, score ms. Undoes take_for_replay.
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'replayed_as')
redis.call('PERSIST', KEYS[1])
return 1
