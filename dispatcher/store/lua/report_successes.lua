--#include window_slots_lib
-- KEYS: circuit, window, metrics, last hour. ARGV: now ms, window ms, provider, attempts,
-- latency ms sum, then outcome/count pairs until '|', then latency bucket/count pairs. Adds the
-- successes a worker counted since its last flush (see ProviderGates): what report_attempt does
-- for each success on a closed circuit, in one step for all of them.
local now = tonumber(ARGV[1])
local provider, attempts, latency = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local slot, bucket = window_position(now, tonumber(ARGV[2]))
local m = hour_slot(KEYS[4], now)
fresh_window_slot(KEYS[2], slot, bucket)
local i = 6
while ARGV[i] ~= '|' do
  redis.call('HINCRBY', KEYS[3], 'attempts|' .. provider .. '|' .. ARGV[i], ARGV[i + 1])
  redis.call('HINCRBY', KEYS[4], m .. ':' .. ARGV[i], ARGV[i + 1])
  i = i + 2
end
i = i + 1
while i <= #ARGV do
  redis.call('HINCRBY', KEYS[3], 'latency|' .. provider .. '|' .. ARGV[i], ARGV[i + 1])
  redis.call('HINCRBY', KEYS[2], 'h' .. slot .. '_' .. ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('HINCRBY', KEYS[3], 'latency_ms_sum|' .. provider, latency)
redis.call('HINCRBY', KEYS[4], 'l' .. m, latency)
redis.call('PEXPIRE', KEYS[4], 7200000)
redis.call('HINCRBY', KEYS[2], 'n' .. slot, attempts)
redis.call('HINCRBY', KEYS[2], 'l' .. slot, latency)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 2)
redis.call('HSET', KEYS[1], 'run', 0)
return attempts
