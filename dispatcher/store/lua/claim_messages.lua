--#include opt_out_lib
--#include claim_lib
-- KEYS: delay queue, pending index, opt-out list. ARGV: message key prefix, lease ms, now ms,
-- then message id and token pairs. One claim result a message.
local results = {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  table.insert(results,
    claim(ARGV[1] .. id, KEYS[1], KEYS[2], ARGV[i + 1], ARGV[2], ARGV[3], id, KEYS[3]))
end
return results
