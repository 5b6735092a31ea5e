--#include callback_lib
-- KEYS: message, status callbacks, metrics, messages awaiting their delivery report, the
-- reporting provider's status lookups. ARGV: state
-- (delivered|undelivered|pending), the provider's status word, reason, now ms, message id. Moves
-- an accepted message, or one whose report was given up on (delivery_unknown), to its reported
-- final state (the first final report wins; a repeat changes nothing; a dead letter keeps its
-- state but shows the report), and it waits for a report (and a status lookup) no more. Returns applied, same, final
-- (another final state is kept), pending, missing, or not_accepted (the send is not recorded as
-- accepted yet).
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
if state == ARGV[1] then return 'same' end
if state == 'delivered' or state == 'undelivered' then return 'final' end
if state == 'failed' or state == 'expired' then
  -- A dead letter whose send got through after all (an ambiguous attempt): keep what the
  -- provider says for the operator to see; the state stays.
  redis.call('HSET', KEYS[1], 'report_status', ARGV[2], 'report_reason', ARGV[3],
    'reported_at_ms', ARGV[4])
  return 'final'
end
if state ~= 'accepted' and state ~= 'delivery_unknown' then return 'not_accepted' end
redis.call('HSET', KEYS[1], 'report_status', ARGV[2], 'report_reason', ARGV[3],
  'reported_at_ms', ARGV[4])
if ARGV[1] == 'pending' then return 'pending' end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated_at_ms', ARGV[4])
redis.call('ZREM', KEYS[4], ARGV[5])
redis.call('ZREM', KEYS[5], ARGV[5])
redis.call('HINCRBY', KEYS[3], 'messages|' .. ARGV[1], 1)
queue_callback(KEYS[1], KEYS[2], ARGV[5], ARGV[1], ARGV[4])
return 'applied'
