--#include fill_job
-- KEYS: delay queue, pending index. ARGV: now ms, batch size, job template, message key prefix,
-- then each priority and its queue. Publishes a job for every due retry (and scheduled send) and
-- for every send whose
-- lease ended (its sender died); returns {moved, recovered}. Every job it publishes is noted in
-- the pending index, so a job lost on its way to a worker is found by the orphan sweep. A send is
-- due for recovery when its lease ended: its score, the lease end negated, is at least -now.
local queues = {}
for i = 5, #ARGV, 2 do queues[ARGV[i]] = ARGV[i + 1] end
local function publish(id, queue, task_id)
  redis.call('LPUSH', queue, fill_job(ARGV[3], task_id, id, queue))
  redis.call('ZADD', KEYS[2], ARGV[1], id)
end
local moved, recovered = 0, 0
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local f = redis.call('HMGET', ARGV[4] .. id, 'state', 'priority', 'retry_seq')
  local queue = f[2] and queues[f[2]]
  if f[1] == 'retry_scheduled' and queue then
    publish(id, queue, id .. '.r' .. (f[3] or '0'))
    moved = moved + 1
  elseif f[1] == 'scheduled' and queue then  -- its send_at has come
    publish(id, queue, id .. '.t')
    moved = moved + 1
  end
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], -tonumber(ARGV[1]), '(0', 'LIMIT', 0, ARGV[2])
for _, id in ipairs(stale) do
  local f = redis.call('HMGET', ARGV[4] .. id, 'state', 'priority', 'lease_until_ms')
  local lease_until = tonumber(f[3] or '0')
  local queue = f[2] and queues[f[2]]
  if f[1] ~= 'sending' or not queue then
    redis.call('ZREM', KEYS[2], id)
  elseif lease_until > tonumber(ARGV[1]) then
    redis.call('ZADD', KEYS[2], -lease_until, id)  -- claimed again since: look when that ends
  else
    publish(id, queue, id .. '.s' .. ARGV[1])  -- back to waiting for a sender
    recovered = recovered + 1
  end
end
return {moved, recovered}
