-- KEYS: the message's record, the pumping guard's window under way, metrics. ARGV: now ms, the
-- OTP's counter of conversions ('' for a message that is no OTP), the expiry of a window (ms).
-- Notes that the web app used the message (``converted_at_ms``, once) and, for an OTP, counts
-- the conversion for its country's brake. Returns {0} (no record), {1, now} (noted) or
-- {2, when it was noted before}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
if redis.call('HSETNX', KEYS[1], 'converted_at_ms', ARGV[1]) == 0 then
  return {2, redis.call('HGET', KEYS[1], 'converted_at_ms')}
end
local kind = 'other'
if ARGV[2] ~= '' then
  kind = 'otp'
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  if redis.call('HSETNX', KEYS[2], '~', '1') == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
end
redis.call('HINCRBY', KEYS[3], 'conversions|' .. kind, 1)
return {1, ARGV[1]}
