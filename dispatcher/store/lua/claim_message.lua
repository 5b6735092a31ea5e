--#include opt_out_lib
--#include claim_lib
-- KEYS: message, delay queue, pending index, opt-out list. ARGV: token, lease ms, now ms,
-- message id.
return claim(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], KEYS[4])
