--#include fill_job
-- KEYS: pending index. ARGV: published before (ms), batch size, job template, message key prefix,
-- now ms, then each priority and its queue. Only the entries waiting for a sender (scored by when
-- their job was published, so positive) are looked at. A message is still to be sent by the job
-- it was given when it is queued, due for a retry, or left sending with no lease by a dead
-- sender; it gets a new job when its priority queue was empty (so its job is neither waiting
-- there nor unacknowledged in a worker). Returns how many got one.
local queues = {}
for i = 6, #ARGV, 2 do queues[ARGV[i]] = ARGV[i + 1] end
local requeued = 0
local waiting = {queued = true, retry_scheduled = true, sending = true}
-- Whether each priority queue was empty before this sweep pushed anything onto it.
local empty = {}
local function was_empty(queue)
  if empty[queue] == nil then empty[queue] = redis.call('LLEN', queue) == 0 end
  return empty[queue]
end
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '(0', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(old) do
  local f = redis.call('HMGET', ARGV[4] .. id, 'state', 'priority', 'lease_until_ms')
  local lease_until = tonumber(f[3] or '0')
  local queue = f[2] and queues[f[2]]
  if not waiting[f[1]] or not queue then
    redis.call('ZREM', KEYS[1], id)
  elseif f[1] == 'sending' and lease_until > tonumber(ARGV[5]) then
    redis.call('ZADD', KEYS[1], -lease_until, id)  -- being sent: watched as a send in flight
  elseif was_empty(queue) then
    redis.call('LPUSH', queue, fill_job(ARGV[3], id .. '.q' .. ARGV[5], id, queue))
    redis.call('ZADD', KEYS[1], ARGV[5], id)
    requeued = requeued + 1
  end
end
return requeued
