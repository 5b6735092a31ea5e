-- Settling a message's spend reservation (core/spend_caps.py): the counters it was reserved
-- in ("spend_counters", comma-separated) move by what its attempts cost less what was held.

-- spend_adjust: add ``delta`` to each of ``counters``, the month's and the day's ("DD"), in
-- the month's hash.
local function spend_adjust(month_key, day, counters, delta)
  if delta == 0 then return end
  for counter in string.gmatch(counters, '[^,]+') do
    redis.call('HINCRBY', month_key, counter, delta)
    redis.call('HINCRBY', month_key, day .. '|' .. counter, delta)
  end
end

-- spend_settlement: the fields to write on the record and the counters' delta, for an attempt
-- costing ``cost`` (``ends``: its sending is over, for now). ``held`` is the reservation still
-- open (nil: settled, or none), ``billed`` what its attempts cost before.
local function spend_settlement(held, billed, cost, ends)
  local fields, delta = {}, 0
  billed = billed + cost
  if cost > 0 then
    table.insert(fields, 'spend_billed')
    table.insert(fields, billed)
  end
  if held then
    if ends then
      delta = billed - held
      table.insert(fields, 'spend_held')
      table.insert(fields, '')
    elseif billed > held then  -- it cost more than held already: hold what it cost
      delta = billed - held
      table.insert(fields, 'spend_held')
      table.insert(fields, billed)
    end
  else
    delta = cost  -- settled before (a resend after acceptance): counted as it goes
  end
  return fields, delta
end
