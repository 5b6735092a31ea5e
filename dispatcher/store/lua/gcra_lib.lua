-- The generic cell rate algorithm on one key: its theoretical arrival time (TAT), epoch ms.
-- gcra_slot: when ``cost`` units could go (allow_at, ms) and the TAT that taking them leaves;
-- gcra_take: keep that TAT. A message of more parts than the burst goes once the limiter is
-- idle, and pays in full.
local function gcra_slot(key, now, interval, burst, cost)
  burst = math.max(burst, cost)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  return new_tat - interval * burst, new_tat
end
local function gcra_take(key, now, new_tat)
  redis.call('SET', key, string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1000)
end
