--#include window_slots_lib
-- KEYS: circuit, window, pause, metrics, last hour. ARGV: now ms, class, latency ms, probe 0/1,
-- failures in a row, failure rate, min calls, window ms, cool-down ms, pause ms, reason, provider,
-- outcome, latency bucket. Counts one attempt and moves the circuit; returns {state before, state
-- after, reason of an opening}.
local now = tonumber(ARGV[1])
local class = ARGV[2]
local provider, outcome, lb = ARGV[12], ARGV[13], ARGV[14]
local slot, bucket = window_position(now, tonumber(ARGV[8]))
-- Counters since the start, for /metrics.
redis.call('HINCRBY', KEYS[4], 'attempts|' .. provider .. '|' .. outcome, 1)
redis.call('HINCRBY', KEYS[4], 'latency|' .. provider .. '|' .. lb, 1)
redis.call('HINCRBY', KEYS[4], 'latency_ms_sum|' .. provider, ARGV[3])
-- The last hour, a slot a minute, for the dashboard.
local m = hour_slot(KEYS[5], now)
redis.call('HINCRBY', KEYS[5], m .. ':' .. outcome, 1)
redis.call('HINCRBY', KEYS[5], 'l' .. m, ARGV[3])
redis.call('PEXPIRE', KEYS[5], 7200000)
-- The recent window: circuit failure rate, adaptive weights, p50 / p95.
if class ~= 'throttled' then
  fresh_window_slot(KEYS[2], slot, bucket)
  redis.call('HINCRBY', KEYS[2], 'n' .. slot, 1)
  redis.call('HINCRBY', KEYS[2], 'l' .. slot, ARGV[3])
  redis.call('HINCRBY', KEYS[2], 'h' .. slot .. '_' .. lb, 1)
  if class ~= 'success' then redis.call('HINCRBY', KEYS[2], 'f' .. slot, 1) end
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[8]) * 2)
end
local c = redis.call('HMGET', KEYS[1], 'state', 'run', 'probes')
local before = c[1] or 'closed'
local after = before
local run = tonumber(c[2] or '0')
local why = ''
local function open(reason)
  why = reason
  redis.call('HSET', KEYS[1], 'state', 'open', 'since_ms', now,
    'open_until_ms', now + tonumber(ARGV[9]), 'reason', reason, 'probes', 0, 'probe_until_ms', 0)
  after = 'open'
end
if class == 'throttled' then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[10])
  if before == 'half_open' and ARGV[4] == '1' then
    redis.call('HSET', KEYS[1], 'probes', math.max(0, tonumber(c[3] or '1') - 1))
  end
elseif class == 'success' then
  redis.call('HSET', KEYS[1], 'run', 0)
  if before == 'half_open' then
    redis.call('HSET', KEYS[1], 'state', 'closed', 'since_ms', now, 'reason', '', 'probes', 0)
    after = 'closed'
  end
else
  run = run + 1
  redis.call('HSET', KEYS[1], 'run', run)
  if class == 'trip' and before ~= 'open' then
    open(ARGV[11])
  elseif before == 'half_open' then
    open('probe failed: ' .. ARGV[11])
  elseif before == 'closed' then
    if run >= tonumber(ARGV[5]) then
      open(run .. ' failures in a row; last: ' .. ARGV[11])
    else
      local calls, failures = 0, 0
      for s = 0, WINDOW_SLOTS - 1 do
        local b = tonumber(redis.call('HGET', KEYS[2], 'b' .. s) or '-1')
        if b > bucket - WINDOW_SLOTS then
          calls = calls + tonumber(redis.call('HGET', KEYS[2], 'n' .. s) or '0')
          failures = failures + tonumber(redis.call('HGET', KEYS[2], 'f' .. s) or '0')
        end
      end
      if calls >= tonumber(ARGV[7]) and failures / calls >= tonumber(ARGV[6]) then
        open(string.format('%d of %d attempts failed; last: %s', failures, calls, ARGV[11]))
      end
    end
  end
end
return {before, after, why}
