--#include gcra_lib
-- KEYS: circuit, rate, pause, metrics. ARGV: now ms, probes, probe window ms, emission interval
-- ms (0: no limit), burst, cost, longest wait ms, 1 when the message already holds its slot,
-- provider. Returns {verdict, at ms, probe 0/1, turned half-open 0/1}; verdict: go | paused | open
-- | probing | saturated. ``at`` is when to go (go) or when to look again (the others). Every wait
-- is counted in the metrics ("waits|<provider>|<why>"). The rate limit reserves the message's
-- slot: a message that must wait goes to the delay queue until its own slot.
local function held(why, at, turned)
  redis.call('HINCRBY', KEYS[4], 'waits|' .. ARGV[9] .. '|' .. why, 1)
  return {why, at, 0, turned}
end
local now = tonumber(ARGV[1])
local pause = redis.call('PTTL', KEYS[3])
if pause > 0 then return held('paused', now + pause, 0) end
local c = redis.call('HMGET', KEYS[1], 'state', 'open_until_ms', 'probe_until_ms', 'probes')
local state = c[1] or 'closed'
local turned = 0
local probe = 0
local probes = tonumber(c[4] or '0')
local probe_until = tonumber(c[3] or '0')
if state == 'open' then
  local open_until = tonumber(c[2] or '0')
  if now < open_until then return held('open', open_until, 0) end
  state = 'half_open'
  turned = 1
  probes = 0
  probe_until = 0
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'since_ms', now,
    'probes', 0, 'probe_until_ms', 0)
end
if state == 'half_open' then
  if now >= probe_until then probes = 0 end
  if probes >= tonumber(ARGV[2]) then return held('probing', probe_until, turned) end
  probe = 1
end
local at = now
local interval = tonumber(ARGV[4])
if interval > 0 and ARGV[8] ~= '1' then
  local allow_at, new_tat = gcra_slot(KEYS[2], now, interval, tonumber(ARGV[5]), tonumber(ARGV[6]))
  if allow_at - now > tonumber(ARGV[7]) then return held('saturated', allow_at, turned) end
  gcra_take(KEYS[2], now, new_tat)
  if allow_at > now then
    at = allow_at
    redis.call('HINCRBY', KEYS[4], 'waits|' .. ARGV[9] .. '|rate_limit', 1)
  end
end
if probe == 1 then
  if probes == 0 then probe_until = now + tonumber(ARGV[3]) end
  redis.call('HSET', KEYS[1], 'probes', probes + 1, 'probe_until_ms', probe_until)
end
return {'go', math.floor(at), probe, turned}
