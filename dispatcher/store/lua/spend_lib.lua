-- Spend caps (core/spend_caps.py): one hash a UTC month, a field a counter ("all",
-- "country:<region>", "key:<name>") holding the month's spend in micro-units of the currency,
-- and "<DD>|<counter>" the day's. A call's counters are read in one HMGET, kept in tables while
-- its messages are judged and reserved, and written back in one HSET. The field '~' marks a
-- hash whose expiry is set.

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

-- spend_load: the day's and the month's counts of ``counters``, and whether the hash has its
-- expiry.
local function spend_load(month_key, day, counters)
  local spent = {day = {}, month = {}}
  if #counters == 0 then return spent, true end
  local fields = {}
  for _, counter in ipairs(counters) do
    table.insert(fields, counter)
    table.insert(fields, day .. '|' .. counter)
  end
  table.insert(fields, '~')
  local found = redis.call('HMGET', month_key, unpack(fields))
  for n, counter in ipairs(counters) do
    spent.month[counter] = tonumber(found[2 * n - 1]) or 0
    spent.day[counter] = tonumber(found[2 * n]) or 0
  end
  return spent, found[#fields] ~= false
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
      counted[counter] = true
    end
  end
  return table.concat(alerts, ',')
end

-- spend_save: the counts back to Redis, with the hash's expiry when it has none.
local function spend_save(month_key, day, spent, counted, expiry_set, ttl_s)
  local fields = {}
  for counter in pairs(counted) do
    table.insert(fields, counter)
    table.insert(fields, spent.month[counter])
    table.insert(fields, day .. '|' .. counter)
    table.insert(fields, spent.day[counter])
  end
  write_counters(month_key, fields, expiry_set, 'EXPIRE', ttl_s)
end
