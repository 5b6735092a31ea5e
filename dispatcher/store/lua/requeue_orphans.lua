--#include fill_job
-- KEYS: pending index. ARGV: published before (ms), batch size, job template, message key prefix,
-- now ms, the template of a job that drains a ready list, the ready lists' key prefix, then each
-- priority and its queue. Gives a new job to what waits for a sender with no job that will come:
-- - a ready list (take_ready) that holds messages and has not moved since before that time: its
--   job was lost (or is held by a dead worker), so it gets a new one while its queue is empty;
-- - a message waiting for a sender, looked at among the entries of the pending index published
--   before that time (scored by when their job was published, so positive). It is still to be
--   sent by the job it was given when it is queued, due for a retry, or left sending with no
--   lease by a dead sender; it gets a new job of its own when its priority queue was empty (so
--   its job is neither waiting there nor unacknowledged in a live worker). One still ``queued``
--   that joined a ready list (``ready_list`` in its record) is in that list until a job takes
--   and claims it: the list's job, or the one given to the list above, takes it in its turn.
-- Returns how many jobs it published.
local published_before, now = tonumber(ARGV[1]), ARGV[5]
local queues, ready_lists = {}, {}
for i = 8, #ARGV, 2 do
  queues[ARGV[i]] = ARGV[i + 1]
  table.insert(ready_lists, ARGV[i + 1])
end
local requeued = 0
local waiting = {queued = true, scheduled = true, retry_scheduled = true, sending = true}
-- Whether each priority queue was empty before this sweep pushed anything onto it.
local empty = {}
local function was_empty(queue)
  if empty[queue] == nil then empty[queue] = redis.call('LLEN', queue) == 0 end
  return empty[queue]
end
for _, queue in ipairs(ready_lists) do
  local list = ARGV[7] .. queue
  local head = redis.call('LINDEX', list, 0)
  if head then
    local moved = tonumber(redis.call('GET', list .. ':moved') or '0')
    local joined = tonumber(redis.call('ZSCORE', KEYS[1], head) or '0')
    if math.max(moved, joined) <= published_before and was_empty(queue) then
      redis.call('LPUSH', queue, fill_job(ARGV[6], head .. '.w' .. now, queue, queue))
      redis.call('SET', list .. ':moved', now)
      requeued = requeued + 1
    end
  end
end
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '(0', published_before, 'LIMIT', 0, ARGV[2])
for _, id in ipairs(old) do
  local f = redis.call('HMGET', ARGV[4] .. id, 'state', 'priority', 'lease_until_ms', 'ready_list')
  local lease_until = tonumber(f[3] or '0')
  local queue = f[2] and queues[f[2]]
  if not waiting[f[1]] or not queue then
    redis.call('ZREM', KEYS[1], id)
  elseif f[1] == 'sending' and lease_until > tonumber(now) then
    redis.call('ZADD', KEYS[1], -lease_until, id)  -- being sent: watched as a send in flight
  elseif f[1] == 'queued' and f[4] == '1' then
    -- In its ready list: taken in its turn (the list is watched above).
  elseif was_empty(queue) then
    redis.call('LPUSH', queue, fill_job(ARGV[3], id .. '.q' .. now, id, queue))
    redis.call('ZADD', KEYS[1], now, id)
    requeued = requeued + 1
  end
end
return requeued
