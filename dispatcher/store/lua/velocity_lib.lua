-- The pumping guard's counters (core/velocity.py): one hash a fixed window, a field a counter
-- ("<category>:<limit>:<value>"), read for every message of a call in one HMGET of the window
-- before and one of the window under way, kept in a table while the call's messages are
-- judged and counted, and written back in one HSET. The field '~' marks a window hash whose
-- expiry is set.

-- velocity_checks: a message's checks, "counter=most;counter=most" ('' none), as a list.
local function velocity_checks(spec)
  local checks = {}
  for counter, most in string.gmatch(spec, '([^=;]+)=(%d+)') do
    table.insert(checks, {counter, tonumber(most)})
  end
  return checks
end

-- velocity_load: the counts of ``counters`` (a list) in both windows, and whether the window
-- under way has its expiry.
local function velocity_load(previous_key, current_key, counters)
  local previous, current = {}, {}
  if #counters == 0 then return previous, current, true end
  local before = redis.call('HMGET', previous_key, unpack(counters))
  table.insert(counters, '~')
  local now = redis.call('HMGET', current_key, unpack(counters))
  for n = 1, #counters - 1 do
    previous[counters[n]] = tonumber(before[n]) or 0
    current[counters[n]] = tonumber(now[n]) or 0
  end
  return previous, current, now[#counters] ~= false
end

-- velocity_refusal: nil when one more message fits every check, else
-- "<limit>|<previous>|<current>|<most>" of the first it does not fit.
local function velocity_refusal(checks, previous, current, weight)
  for _, check in ipairs(checks) do
    local counter, most = check[1], check[2]
    if previous[counter] * weight + current[counter] + 1 > most then
      local limit = string.match(counter, '^[^:]+:([^:]+):')
      return limit .. '|' .. previous[counter] .. '|' .. current[counter] .. '|' .. most
    end
  end
  return nil
end

-- velocity_save: the counts of the window under way back to Redis (``counted``: the counters
-- that changed), with the window's expiry when it has none.
local function velocity_save(current_key, current, counted, expiry_set, ttl_ms)
  local fields = {}
  for counter in pairs(counted) do
    table.insert(fields, counter)
    table.insert(fields, current[counter])
  end
  write_counters(current_key, fields, expiry_set, 'PEXPIRE', ttl_ms)
end
