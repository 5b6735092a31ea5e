-- claim: take the send lease of a message still to be sent (a ``scheduled`` or
-- ``retry_scheduled`` one no earlier than its ``next_attempt_at_ms``): state ``sending``, and in
-- the pending index from waiting for a sender to being sent (scored by the lease end, negated).
-- The lease is two fields of the record: the claim's token (``claim``) and when the lease ends
-- (``lease_until_ms``, by the claimer's clock); a message ``sending`` under a lease that has not
-- ended is busy. A job for a message in a state of ``done`` (dispatcher.core.states
-- NOT_TO_BE_SENT) is acknowledged without calling any provider. A claimed message whose number
-- is on the opt-out list now (its ``opt_out_check`` entries: opt_out_lib) is claimed all the
-- same, flagged, for the caller to end it before any send.
local function claim(message, delay, pending, token, lease_ms, now, id, opt_outs)
  local flat = redis.call('HGETALL', message)
  if #flat == 0 then return {'missing'} end
  local fields = {}
  for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  local state = fields['state']
  local done = {accepted = true, delivered = true, undelivered = true, delivery_unknown = true,
    failed = true, expired = true, canceled = true}
  if done[state] then return {'done', state} end
  local waits = state == 'retry_scheduled' or state == 'scheduled'
  if waits then
    local due = tonumber(fields['next_attempt_at_ms'] or '0')
    if due > tonumber(now) then return {'not_due', state} end
  end
  if state == 'sending' and tonumber(fields['lease_until_ms'] or '0') > tonumber(now) then
    return {'busy', state}
  end
  if waits then redis.call('ZREM', delay, id) end
  local lease_until = tonumber(now) + tonumber(lease_ms)
  redis.call('ZADD', pending, -lease_until, id)
  redis.call('HSET', message, 'state', 'sending', 'updated_at_ms', now, 'claim', token,
    'lease_until_ms', lease_until)
  local checks = fields['opt_out_check']
  local opted = 0
  if checks and checks ~= '' and opted_out(opt_outs, checks) then opted = 1 end
  -- The record as it was read; the caller knows it is now sending.
  return {'claimed', state, flat, opted}
end
