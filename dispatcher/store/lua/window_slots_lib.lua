-- Where ``now`` falls in a provider's recent window (6 slots: dispatcher.store.gates WINDOW_SLOTS)
-- and in its last hour (a slot a minute), and the reset of a slot being reused. A window slot
-- holds a latency histogram of 12 buckets (dispatcher.core.latency: 11 bounds and the rest); an
-- hour slot a count per outcome class.
local WINDOW_SLOTS = 6
local LATENCY_BOUNDS = 11
local function window_position(now, window_ms)
  local bucket = math.floor(now / math.floor(window_ms / WINDOW_SLOTS))
  return bucket % WINDOW_SLOTS, bucket
end
local function fresh_window_slot(window, slot, bucket)
  if tonumber(redis.call('HGET', window, 'b' .. slot) or '-1') ~= bucket then
    redis.call('HSET', window, 'b' .. slot, bucket, 'n' .. slot, 0, 'f' .. slot, 0, 'l' .. slot, 0)
    for i = 0, LATENCY_BOUNDS do redis.call('HDEL', window, 'h' .. slot .. '_' .. i) end
  end
end
local function hour_slot(hour, now)
  local minute = math.floor(now / 60000)
  local m = minute % 60
  if tonumber(redis.call('HGET', hour, 'b' .. m) or '-1') ~= minute then
    redis.call('HDEL', hour, 'l' .. m, m .. ':accepted', m .. ':retryable', m .. ':ambiguous',
      m .. ':rejected', m .. ':provider_error')
    redis.call('HSET', hour, 'b' .. m, minute)
  end
  return m
end
