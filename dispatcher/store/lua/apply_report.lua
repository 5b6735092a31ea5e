--#include callback_lib
--#include body_lib
-- KEYS: message, status callbacks, metrics, messages awaiting their delivery report, the
-- reporting provider's status lookups, the provider's delivery-window bucket now. ARGV: state
-- (delivered|undelivered|pending), the provider's status word, reason, now ms, message id, the
-- bucket's TTL (s), the report-latency bucket bounds (ms, comma-separated), and to send it once
-- more (an undelivered report for a passing reason) the providers it leaves, or '', and how long
-- after a final report its body is dropped (ms). KEYS[7]: the delay queue; KEYS[8]: bodies to
-- drop. Moves
-- an accepted message, or one whose report was given up on (delivery_unknown), to its reported
-- final state (the first final report wins; a repeat changes nothing; a dead letter keeps its
-- state but shows the report), and it waits for a report (and a status lookup) no more. A
-- report that moves a message is counted in the delivery window by the destination's country
-- (``country_code``, written at acceptance) with the time since the acceptance. Returns applied,
-- resent (waiting in the delay queue to go once more), same, final
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
local resend = ARGV[1] == 'undelivered' and ARGV[8] ~= ''
if resend then
  -- Undelivered for a passing reason, and opted in: sent once more through the next provider
  -- of its route (the reporting one left), linked to the attempt that was not delivered.
  local attempts = redis.call('HGET', KEYS[1], 'attempt_count') or '0'
  redis.call('HSET', KEYS[1], 'state', 'retry_scheduled', 'updated_at_ms', ARGV[4],
    'providers_left', ARGV[8], 'provider_attempts', '0', 'resend_of_attempt', attempts,
    'next_attempt_at_ms', ARGV[4])
  redis.call('ZADD', KEYS[7], ARGV[4], ARGV[5])
else
  redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated_at_ms', ARGV[4])
end
redis.call('ZREM', KEYS[4], ARGV[5])
redis.call('ZREM', KEYS[5], ARGV[5])
local sent = redis.call('HMGET', KEYS[1], 'country_code', 'accepted_at_ms')
local country = sent[1] or 'unknown'
redis.call('HINCRBY', KEYS[6], country .. (ARGV[1] == 'delivered' and '|d' or '|u'), 1)
if sent[2] then
  local waited = tonumber(ARGV[4]) - tonumber(sent[2])
  local bucket = 0
  for bound in string.gmatch(ARGV[7], '[^,]+') do
    if waited <= tonumber(bound) then break end
    bucket = bucket + 1
  end
  redis.call('HINCRBY', KEYS[6], country .. '|l' .. bucket, 1)
end
redis.call('EXPIRE', KEYS[6], ARGV[6])
if resend then
  redis.call('HINCRBY', KEYS[3], 'messages|resent_after_report', 1)
  return 'resent'
end
redis.call('HINCRBY', KEYS[3], 'messages|' .. ARGV[1], 1)
drop_body_later(KEYS[8], ARGV[5], ARGV[4], ARGV[9])
queue_callback(KEYS[1], KEYS[2], ARGV[5], ARGV[1], ARGV[4])
return 'applied'
