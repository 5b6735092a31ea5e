--#include callback_lib
--#include body_lib
--#include spend_settle_lib
-- KEYS: delay queue, pending index, status callbacks, metrics, bodies to drop. ARGV: message key
-- prefix, now ms, how long after now a body is dropped (ms), the spend key prefix, then message
-- ids. A canceled message's spend reservation is released (its month's spend key is the prefix
-- and the month of the day in its record, "spend_day"). Cancels each
-- message not yet handed to a sender (``queued``, ``scheduled``, ``retry_scheduled``): it becomes
-- ``canceled``, leaves the delay queue and the pending index, gets its status callback and is
-- counted ("messages|canceled"). A message on a ready list stays there;
-- the job that takes it finds it done. One being sent, accepted or final is not touched: the claim
-- and this script are each one step, so a canceled message is never sent and a claimed one never
-- canceled. Returns {'canceled' | 'not_cancelable' | 'missing', the state found} each.
local cancelable = {queued = true, scheduled = true, retry_scheduled = true}
local results = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local key = ARGV[1] .. id
  local state = redis.call('HGET', key, 'state')
  if not state then
    table.insert(results, {'missing', ''})
  elseif not cancelable[state] then
    table.insert(results, {'not_cancelable', state})
  else
    redis.call('HSET', key, 'state', 'canceled', 'updated_at_ms', ARGV[2],
      'final_reason', 'canceled', 'lease_until_ms', '0')
    local spend = redis.call('HMGET', key, 'spend_held', 'spend_billed', 'spend_counters',
      'spend_day')
    if tonumber(spend[1]) and spend[3] and spend[4] then  -- its sending ends here, unsent
      local fields, delta = spend_settlement(tonumber(spend[1]), tonumber(spend[2]) or 0, 0, true)
      redis.call('HSET', key, unpack(fields))
      spend_adjust(ARGV[4] .. string.sub(spend[4], 1, 6), string.sub(spend[4], 7, 8), spend[3],
        delta)
    end
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    queue_callback(key, KEYS[3], id, 'canceled', ARGV[2])
    redis.call('HINCRBY', KEYS[4], 'messages|canceled', 1)
    drop_body_later(KEYS[5], id, ARGV[2], ARGV[3])
    table.insert(results, {'canceled', state})
  end
end
return results
