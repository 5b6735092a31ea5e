-- Spend caps (core/spend_caps.py): one hash a UTC day and one a UTC month, a field a counter
-- ("all", "country:<region>", "key:<name>") holding micro-units of the currency. A call's
-- counters are read in one HMGET of each, kept in tables while its messages are judged and
-- reserved, and written back in one HSET of each. The field '~' marks a hash whose expiry is set.

-- spend_caps: a message's caps, "<day|month>|<counter>|<limit>;..." ('' none), as a list.
local function spend_caps(spec)
  local caps = {}
  for period, counter, limit in string.gmatch(spec, '([^|;]+)|([^|;]+)|(%d+)') do
    table.insert(caps, {period, counter, tonumber(limit)})
  end
  return caps
end

local function split_commas(text)
  local found = {}
  for item in string.gmatch(text, '[^,]+') do table.insert(found, item) end
  return found
end

-- spend_load: the day's and the month's counts of ``counters``, and whether each hash has its
-- expiry.
local function spend_load(day_key, month_key, counters)
  local day, month = {}, {}
  if #counters == 0 then return day, month, true, true end
  table.insert(counters, '~')
  local d = redis.call('HMGET', day_key, unpack(counters))
  local m = redis.call('HMGET', month_key, unpack(counters))
  for n = 1, #counters - 1 do
    day[counters[n]] = tonumber(d[n]) or 0
    month[counters[n]] = tonumber(m[n]) or 0
  end
  return day, month, d[#counters] ~= false, m[#counters] ~= false
end

-- spend_refusal: nil when ``amount`` fits every cap, else "<period>|<counter>|<spent>|<limit>"
-- of the first it does not.
local function spend_refusal(caps, spent, amount)
  for _, cap in ipairs(caps) do
    local have = spent[cap[1]][cap[2]]
    if have + amount > cap[3] then
      return cap[1] .. '|' .. cap[2] .. '|' .. have .. '|' .. cap[3]
    end
  end
  return nil
end

-- spend_take: reserve ``amount`` in every counter of both periods; the caps it took to their
-- alert share or past it, as "<period>|<counter>,...".
local function spend_take(caps, counters, spent, counted, amount, alert_at)
  local alerts = {}
  for _, cap in ipairs(caps) do
    local have, threshold = spent[cap[1]][cap[2]], cap[3] * alert_at
    if have < threshold and have + amount >= threshold then
      table.insert(alerts, cap[1] .. '|' .. cap[2])
    end
  end
  for _, counter in ipairs(counters) do
    for _, period in ipairs({'day', 'month'}) do
      spent[period][counter] = spent[period][counter] + amount
      counted[period][counter] = true
    end
  end
  return table.concat(alerts, ',')
end

-- spend_save: one period's counts back to Redis, with its expiry when it has none.
local function spend_save(key, counts, counted, expiry_set, ttl_s)
  local fields = {}
  for counter in pairs(counted) do
    table.insert(fields, counter)
    table.insert(fields, counts[counter])
  end
  if #fields == 0 then return end
  if not expiry_set then
    table.insert(fields, '~')
    table.insert(fields, '1')
  end
  redis.call('HSET', key, unpack(fields))
  if not expiry_set then redis.call('EXPIRE', key, ttl_s) end
end
