-- KEYS: the provider-id marker, the record, its text, the inbound index, metrics, status
-- callbacks. ARGV: id, now ms, record ttl s, text ttl s (0: not kept), the text, provider, what
-- it is counted as (stop | start | help | text), '1' to queue its callback, then field/value
-- pairs of the record. Records an inbound text once (a provider posting it again gets the
-- first id back), counts it ("inbound|<provider>|<kind>"), trims the index of records that have
-- expired, and queues its callback ("in:<id>|inbound"). Returns {1 | 0, the id}.
local known = redis.call('GET', KEYS[1])
if known then return {0, known} end
local id, now, ttl, text_ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('SET', KEYS[1], id, 'EX', ttl)
redis.call('HSET', KEYS[2], unpack(ARGV, 9))
redis.call('EXPIRE', KEYS[2], ttl)
if text_ttl > 0 then redis.call('SET', KEYS[3], ARGV[5], 'EX', text_ttl) end
redis.call('ZADD', KEYS[4], now, id)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - ttl * 1000)
redis.call('HINCRBY', KEYS[5], 'inbound|' .. ARGV[6] .. '|' .. ARGV[7], 1)
if ARGV[8] == '1' then redis.call('ZADD', KEYS[6], 'NX', now, 'in:' .. id .. '|inbound') end
return {1, id}
