-- The pumping guard's brake (core/pumping_brake.py): per destination country, one-time codes
-- sent and converted (the web app said the code was used) are counted in the velocity windows
-- ("otp:sent:<country>", "otp:converted:<country>"). Once a country has sent at least
-- ``min_otps`` in the sliding window and converted under ``min_rate`` of them, its brake is put
-- on (the brakes hash: country -> until ms): its OTPs are refused until then. A brake that has
-- run out is taken off with a fresh start: the counts that put it on are forgotten.

local function brake_counters(country)
  return 'otp:sent:' .. country, 'otp:converted:' .. country
end

-- brake_refusal: nil when an OTP to ``country`` may go, else "<until>|<1: put on now>|<sent>|
-- <converted>". ``brakes`` caches the brakes hash's answers for this call; ``counted`` notes
-- the counters of the window under way to write back.
local function brake_refusal(brakes_key, brakes, previous_key, country, previous, current,
                             counted, weight, now, rules)
  local sent_f, converted_f = brake_counters(country)
  if brakes[country] == nil then
    brakes[country] = tonumber(redis.call('HGET', brakes_key, country)) or false
  end
  local until_ms = brakes[country]
  if until_ms and until_ms > now then
    return until_ms .. '|0|' .. current[sent_f] .. '|' .. current[converted_f]
  end
  if until_ms then  -- run out: off, and a fresh start
    redis.call('HDEL', brakes_key, country)
    redis.call('HDEL', previous_key, sent_f, converted_f)
    brakes[country] = false
    previous[sent_f], previous[converted_f] = 0, 0
    current[sent_f], current[converted_f] = 0, 0
    counted[sent_f], counted[converted_f] = true, true
    return nil
  end
  local sent = previous[sent_f] * weight + current[sent_f]
  local converted = previous[converted_f] * weight + current[converted_f]
  if sent >= rules.min_otps and converted < rules.min_rate * sent then
    until_ms = now + rules.cool_down_ms
    redis.call('HSET', brakes_key, country, until_ms)
    brakes[country] = until_ms
    return until_ms .. '|1|' .. math.floor(sent) .. '|' .. math.floor(converted)
  end
  return nil
end
