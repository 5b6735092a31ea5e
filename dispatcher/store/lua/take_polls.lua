--#include gcra_lib
-- KEYS: a provider's status lookups (sorted set), its lookup rate limit (GCRA TAT). ARGV: now ms,
-- most to take, lease ms, ms between two lookups under the rate limit, burst, message key
-- prefix. Takes the due lookups, as many as the rate limit lets go now and at most ``most``: each
-- is rescored to now + lease (a worker that dies with it leaves it to be taken again then) and
-- its record counts it (``polls``). A due entry whose message is no longer ``accepted`` (a pushed
-- report ended it, its wait for a report ended, or its record expired) leaves the set. Returns
-- {message id, provider message id, lookups made before this one, ...}. How many may go now is
-- worked out here; the TAT they leave is kept by gcra_lib's gcra_take.
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
if tat < now then tat = now end
local most = math.min(tonumber(ARGV[2]), math.floor(tonumber(ARGV[5]) - (tat - now) / interval))
if most <= 0 then return {} end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, most)
local taken = {}
local count = 0
for _, id in ipairs(due) do
  local message = ARGV[6] .. id
  local known = redis.call('HMGET', message, 'state', 'provider_message_id', 'polls')
  if known[1] ~= 'accepted' or not known[2] or known[2] == '' then
    redis.call('ZREM', KEYS[1], id)
  else
    local polls = tonumber(known[3] or '0')
    redis.call('HSET', message, 'polls', polls + 1)
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), id)
    count = count + 1
    table.insert(taken, id)
    table.insert(taken, known[2])
    table.insert(taken, polls)
  end
end
if count > 0 then gcra_take(KEYS[2], now, tat + interval * count) end
return taken
