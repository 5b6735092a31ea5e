--#include gcra_lib
-- KEYS: the limiter. ARGV: now ms, emission interval ms, burst, cost. Returns 0 when the request
-- may go (and counts it), else how many ms until it may.
local now = tonumber(ARGV[1])
local allow_at, new_tat = gcra_slot(KEYS[1], now, tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]))
if allow_at > now then return math.ceil(allow_at - now) end
gcra_take(KEYS[1], now, new_tat)
return 0
