--#include callback_lib
--#include body_lib
-- KEYS: messages awaiting their delivery report, status callbacks, metrics, bodies to drop.
-- ARGV: now ms, most to end, message key prefix, how long after now a body is dropped (ms). Each
-- message whose wait for a final delivery report is over and that is still ``accepted`` ends
-- ``delivery_unknown`` (a status callback queued when it has a callback URL, counted in
-- messages|delivery_unknown, its body dropped in time); every due entry leaves the set. Returns
-- how many ended.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local ended = 0
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local message = ARGV[3] .. id
  if redis.call('HGET', message, 'state') == 'accepted' then
    redis.call('HSET', message, 'state', 'delivery_unknown', 'updated_at_ms', ARGV[1])
    redis.call('HINCRBY', KEYS[3], 'messages|delivery_unknown', 1)
    queue_callback(message, KEYS[2], id, 'delivery_unknown', ARGV[1])
    drop_body_later(KEYS[4], id, ARGV[1], ARGV[4])
    ended = ended + 1
  end
end
return ended
