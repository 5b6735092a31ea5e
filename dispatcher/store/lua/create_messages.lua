--#include fill_job
--#include opt_out_lib
--#include counters_lib
--#include velocity_lib
--#include pumping_brake_lib
--#include spend_lib
-- KEYS: pending index, opt-out list, metrics, delay queue, the pumping guard's window before
-- and window under way, its brakes, the spend of the UTC month. ARGV: now ms,
-- idempotency ttl s, message key prefix, the batch job template ('' for a job a message),
-- queue, messages a batch job, the queue's ready list ('' none), the template of a job that
-- drains it, the weight of the window before, the expiry of a window (ms), the brake's least
-- OTPs, its least conversion rate and its cool-down (ms), the spend alert's share, the day of
-- the month ("DD"), the expiry of a month's spend (s), then one group a message: id, "<id>|<digest>", record
-- ttl s, idempotency key ('' none), its own job ('' none), the opt-out entries it is checked
-- against (comma-separated digests, '' none), when it is scheduled to go (ms, '' now), its
-- campaign's key ('' none), its pumping-guard checks ("counter=most;...", '' none), the
-- country whose brake it is under ('' none: not an OTP), its spend to reserve (micro-units, ''
-- none), its spend caps ("<day|month>|<counter>|<limit>;..."), its spend counters
-- (comma-separated), '1' when it was smart-encoded (counted), field count, fields...
-- Records the new messages, each claiming its idempotency key, and gives them their way to a
-- sender in the same step. One to go now (``queued``) gets its own job; or one batch job for
-- every ``messages a batch job`` new ids; or, with a ready list, it joins the list, and the list
-- gets a job when the message is its only one (a job taking from a list that it leaves non-empty
-- queues the next: take_ready). One scheduled (``scheduled``) waits in the delay queue for its
-- time, with no job. A campaign's set names each message of it. A message to a number on the
-- opt-out list is refused (counted as ``refused|opted_out``), and so is one that would pass a
-- limit of the pumping guard (``refused|destination_rate_limited``, ``limited|<limit>``): not
-- recorded, its idempotency key not claimed, not counted. The caller puts the opt-out entries
-- in the fields too (``opt_out_check``), for each claim to look at again. An OTP to a country
-- whose brake is on is refused (``refused|pumping_suspected``; ``brakes|engaged|<country>``
-- when this message put it on). A message whose spend would pass a cap is refused
-- (``refused|spend_cap_reached``); one that fits is reserved in its counters. Returns {1 | 0,
-- the first "<id>|<digest>" of the key, the caps it took to the alert share ("<period>|
-- <counter>,...")} each, {2, ''} for one opted out, {3, "<limit>|<previous>|<current>|<most>"}
-- for one over a limit, {4, "<until>|<1: put on now>|<sent>|<converted>"} for one braked, or
-- {5, "<period>|<counter>|<spent>|<limit>"} for one over a spend cap.
local now, idem_ttl, prefix = ARGV[1], ARGV[2], ARGV[3]
local batch_template, queue, per_job = ARGV[4], ARGV[5], tonumber(ARGV[6])
local ready, ready_template = ARGV[7], ARGV[8]
local weight, window_ttl = tonumber(ARGV[9]), ARGV[10]
local brake_rules = {
  min_otps = tonumber(ARGV[11]), min_rate = tonumber(ARGV[12]), cool_down_ms = tonumber(ARGV[13])
}
local alert_at, day, month_ttl = tonumber(ARGV[14]), ARGV[15], ARGV[16]
local delay = KEYS[4]
local results, fresh = {}, {}
local GROUPS, HEADER = 17, 15

-- The guards' counters of every message of the call, read at once; each message's checks,
-- caps and spend counters, read from its arguments once.
local counters, seen, spend_counters, spend_seen = {}, {}, {}, {}
local parsed = {}
local i = GROUPS
while i <= #ARGV do
  local limits, mine = velocity_checks(ARGV[i + 8]), split_commas(ARGV[i + 12])
  parsed[i] = {limits, spend_caps(ARGV[i + 11]), mine}
  local names = {}
  for _, check in ipairs(limits) do table.insert(names, check[1]) end
  if ARGV[i + 9] ~= '' then
    local sent_f, converted_f = brake_counters(ARGV[i + 9])
    table.insert(names, sent_f)
    table.insert(names, converted_f)
  end
  for _, name in ipairs(names) do
    if not seen[name] then
      seen[name] = true
      table.insert(counters, name)
    end
  end
  for _, name in ipairs(mine) do
    if not spend_seen[name] then
      spend_seen[name] = true
      table.insert(spend_counters, name)
    end
  end
  i = i + HEADER + tonumber(ARGV[i + 14])
end
local previous, current, expiry_set = velocity_load(KEYS[5], KEYS[6], counters)
local counted, brakes = {}, {}
local spent, spend_expiry = spend_load(KEYS[8], day, spend_counters)
local spend_counted = {}

i = GROUPS
while i <= #ARGV do
  local id, marker, ttl, idem, job = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local checks, due, campaign = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  local limits, caps, mine = parsed[i][1], parsed[i][2], parsed[i][3]
  local brake, amount = ARGV[i + 9], tonumber(ARGV[i + 10])
  local count = tonumber(ARGV[i + 14])
  local first = i + HEADER
  local existing, opted, over, braked, capped = false, false, nil, nil, nil
  if idem ~= '' then existing = redis.call('GET', idem) end
  if not existing then
    opted = checks ~= '' and opted_out(KEYS[2], checks)
    if not opted then over = velocity_refusal(limits, previous, current, weight) end
    if not opted and not over and brake ~= '' then
      braked = brake_refusal(KEYS[7], brakes, KEYS[5], brake, previous, current, counted,
                             weight, tonumber(now), brake_rules)
    end
    if not opted and not over and not braked and amount then
      capped = spend_refusal(caps, spent, amount)
    end
  end
  if existing then
    table.insert(results, {0, existing})
  elseif opted then
    redis.call('HINCRBY', KEYS[3], 'refused|opted_out', 1)
    table.insert(results, {2, ''})
  elseif over then
    redis.call('HINCRBY', KEYS[3], 'refused|destination_rate_limited', 1)
    redis.call('HINCRBY', KEYS[3], 'limited|' .. string.match(over, '^[^|]+'), 1)
    table.insert(results, {3, over})
  elseif braked then
    redis.call('HINCRBY', KEYS[3], 'refused|pumping_suspected', 1)
    if string.match(braked, '^%d+|1|') then
      redis.call('HINCRBY', KEYS[3], 'brakes|engaged|' .. brake, 1)
    end
    table.insert(results, {4, braked})
  elseif capped then
    redis.call('HINCRBY', KEYS[3], 'refused|spend_cap_reached', 1)
    table.insert(results, {5, capped})
  else
    local alerts = ''
    if amount then
      alerts = spend_take(caps, mine, spent, spend_counted, amount, alert_at)
      for alert in string.gmatch(alerts, '[^,]+') do
        redis.call('HINCRBY', KEYS[3], 'spend_alerts|' .. alert, 1)
      end
    end
    for _, check in ipairs(limits) do
      current[check[1]] = current[check[1]] + 1
      counted[check[1]] = true
    end
    if brake ~= '' then
      local sent_f = brake_counters(brake)
      current[sent_f] = current[sent_f] + 1
      counted[sent_f] = true
    end
    if idem ~= '' then redis.call('SET', idem, marker, 'EX', idem_ttl) end
    if ARGV[i + 13] == '1' then redis.call('HINCRBY', KEYS[3], 'smart_encoded', 1) end
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
    table.insert(results, {1, marker, alerts})
  end
  i = first + count
end
velocity_save(KEYS[6], current, counted, expiry_set, window_ttl)
spend_save(KEYS[8], day, spent, spend_counted, spend_expiry, month_ttl)
if batch_template ~= '' then
  for first = 1, #fresh, per_job do
    local ids = table.concat(fresh, ',', first, math.min(#fresh, first + per_job - 1))
    redis.call('LPUSH', queue, fill_job(batch_template, fresh[first] .. '.b' .. now, ids, queue))
  end
end
return results
