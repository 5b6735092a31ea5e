--#include fill_job
--#include opt_out_lib
--#include velocity_lib
-- KEYS: pending index, opt-out list, metrics, delay queue, the pumping guard's window before
-- and window under way. ARGV: now ms, idempotency ttl s, message key prefix, the batch job
-- template ('' for a job a message), queue, messages a batch job, the queue's ready list (''
-- none), the template of a job that drains it, the weight of the window before, the expiry of a
-- window (ms), then one group a message: id, "<id>|<digest>", record ttl s, idempotency key (''
-- none), its own job ('' none), the opt-out entries it is checked against (comma-separated
-- digests, '' none), when it is scheduled to go (ms, '' now), its campaign's key ('' none), its
-- pumping-guard checks ("counter=most;...", '' none), field count, fields...
-- Records the new messages, each claiming its idempotency key, and gives them their way to a
-- sender in the same step. One to go now (``queued``) gets its own job; or one batch job for
-- every ``messages a batch job`` new ids; or, with a ready list, it joins the list, and the list
-- gets a job when the message is its only one (a job taking from a list that it leaves non-empty
-- queues the next: take_ready). One scheduled (``scheduled``) waits in the delay queue for its
-- time, with no job. A campaign's set names each message of it. A message to a number on the
-- opt-out list is refused (counted as ``refused|opted_out``), and so is one that would pass a
-- limit of the pumping guard (``refused|destination_rate_limited``, ``limited|<limit>``): not
-- recorded, its idempotency key not claimed, not counted. The caller puts the opt-out entries
-- in the fields too (``opt_out_check``), for each claim to look at again. Returns
-- {1 | 0, the first "<id>|<digest>" of the key} each, {2, ''} for one opted out, or
-- {3, "<limit>|<previous>|<current>|<most>"} for one over a limit.
local now, idem_ttl, prefix = ARGV[1], ARGV[2], ARGV[3]
local batch_template, queue, per_job = ARGV[4], ARGV[5], tonumber(ARGV[6])
local ready, ready_template = ARGV[7], ARGV[8]
local weight, window_ttl = tonumber(ARGV[9]), ARGV[10]
local delay = KEYS[4]
local results, fresh = {}, {}
local GROUPS, HEADER = 11, 10

-- The guard's counters of every message of the call, read at once.
local counters, seen = {}, {}
local i = GROUPS
while i <= #ARGV do
  for _, check in ipairs(velocity_checks(ARGV[i + 8])) do
    if not seen[check[1]] then
      seen[check[1]] = true
      table.insert(counters, check[1])
    end
  end
  i = i + HEADER + tonumber(ARGV[i + 9])
end
local previous, current, expiry_set = velocity_load(KEYS[5], KEYS[6], counters)
local counted = {}

i = GROUPS
while i <= #ARGV do
  local id, marker, ttl, idem, job = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local checks, due, campaign = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  local limits = velocity_checks(ARGV[i + 8])
  local count = tonumber(ARGV[i + 9])
  local first = i + HEADER
  local existing = false
  local over = nil
  if idem ~= '' then existing = redis.call('GET', idem) end
  if not existing then over = velocity_refusal(limits, previous, current, weight) end
  if existing then
    table.insert(results, {0, existing})
  elseif checks ~= '' and opted_out(KEYS[2], checks) then
    redis.call('HINCRBY', KEYS[3], 'refused|opted_out', 1)
    table.insert(results, {2, ''})
  elseif over then
    redis.call('HINCRBY', KEYS[3], 'refused|destination_rate_limited', 1)
    redis.call('HINCRBY', KEYS[3], 'limited|' .. string.match(over, '^[^|]+'), 1)
    table.insert(results, {3, over})
  else
    for _, check in ipairs(limits) do
      current[check[1]] = current[check[1]] + 1
      counted[check[1]] = true
    end
    if idem ~= '' then redis.call('SET', idem, marker, 'EX', idem_ttl) end
    local key = prefix .. id
    if due ~= '' then  -- scheduled: the delay queue hands it to a sender at its time
      redis.call('HSET', key, unpack(ARGV, first, first - 1 + count))
      redis.call('EXPIRE', key, ttl)
      redis.call('ZADD', delay, due, id)
    else
      if ready ~= '' then  -- noted, so the orphan sweep knows it is in the list (until claimed)
        redis.call('HSET', key, 'ready_list', '1', unpack(ARGV, first, first - 1 + count))
      else
        redis.call('HSET', key, unpack(ARGV, first, first - 1 + count))
      end
      redis.call('EXPIRE', key, ttl)
      redis.call('ZADD', KEYS[1], now, id)
      if job ~= '' then redis.call('LPUSH', queue, job) end
      if ready ~= '' and redis.call('RPUSH', ready, id) == 1 then
        redis.call('LPUSH', queue, fill_job(ready_template, id .. '.c', queue, queue))
      end
      table.insert(fresh, id)
    end
    if campaign ~= '' then
      redis.call('SADD', campaign, id)
      if redis.call('TTL', campaign) < tonumber(ttl) then redis.call('EXPIRE', campaign, ttl) end
    end
    table.insert(results, {1, marker})
  end
  i = first + count
end
velocity_save(KEYS[6], current, counted, expiry_set, window_ttl)
if batch_template ~= '' then
  for first = 1, #fresh, per_job do
    local ids = table.concat(fresh, ',', first, math.min(#fresh, first + per_job - 1))
    redis.call('LPUSH', queue, fill_job(batch_template, fresh[first] .. '.b' .. now, ids, queue))
  end
end
return results
