--#include callback_lib
--#include body_lib
--#include spend_settle_lib
-- KEYS: message, delay queue, dead letters, pending index, provider-id index, status callbacks,
--       messages awaiting their delivery report, the provider's status lookups (or the message
--       key when its provider is not asked), bodies to drop, the spend of the month its spend
--       reservation is in (the message key when it has none).
-- ARGV: token, attempt JSON or '', action (none|retry|dead_letter), score ms, message id,
--       provider-id index ttl s or '' (not indexed), the state reached (for a callback) or '',
--       now ms, '1' when the message has a callback URL, when an accepted message stops waiting
--       for its delivery report (ms) or '', when its status is first looked up (ms) or '', how
--       long after now its body is dropped (ms; '' kept: not final, or a dead letter kept for
--       replay), what the attempt cost (micro-units, '' nothing), '1' when its sending ends
--       here (accepted or final: its spend reservation is settled), then field/value pairs for
--       the message hash.
-- Each attempt is a field of the record (``attempt:<n>``, its JSON), so the record's expiry covers
-- them and a dead letter keeps them.
local known = redis.call('HMGET', KEYS[1], 'claim', 'attempt_count', 'retry_seq', 'spend_held',
  'spend_billed', 'spend_counters', 'spend_day')
if not known[1] then return 0 end  -- no record (or never claimed): nothing to add to
local attempts = tonumber(known[2] or '0')
local fields = {}
if ARGV[2] ~= '' then
  attempts = attempts + 1
  fields = {'attempt:' .. attempts, ARGV[2], 'attempt_count', attempts}
end
-- The last claim owns the outcome, whether or not its lease ran out meanwhile.
if known[1] ~= ARGV[1] then
  -- Another sender holds the message now: keep this attempt, leave the rest to the holder.
  if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
  return 0
end
for i = 15, #ARGV do table.insert(fields, ARGV[i]) end
local cost = tonumber(ARGV[13]) or 0
if known[6] or cost > 0 then
  local spend, delta = spend_settlement(tonumber(known[4]), tonumber(known[5]) or 0, cost,
    ARGV[14] == '1')
  for _, item in ipairs(spend) do table.insert(fields, item) end
  if known[6] and known[7] then
    spend_adjust(KEYS[10], string.sub(known[7], 7, 8), known[6], delta)
  end
end
table.insert(fields, 'lease_until_ms')
table.insert(fields, '0')
if ARGV[3] == 'retry' then
  table.insert(fields, 'retry_seq')
  table.insert(fields, tonumber(known[3] or '0') + 1)
end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[6] ~= '' then redis.call('SET', KEYS[5], ARGV[5], 'EX', ARGV[6]) end
if ARGV[7] ~= '' and ARGV[9] == '1' then
  queue_callback(KEYS[1], KEYS[6], ARGV[5], ARGV[7], ARGV[8], true)
end
if ARGV[3] == 'dead_letter' then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
  redis.call('PERSIST', KEYS[1])
elseif ARGV[3] == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
else
  if ARGV[10] ~= '' then redis.call('ZADD', KEYS[7], ARGV[10], ARGV[5]) end
  if ARGV[11] ~= '' then redis.call('ZADD', KEYS[8], ARGV[11], ARGV[5]) end
end
drop_body_later(KEYS[9], ARGV[5], ARGV[8], ARGV[12])
redis.call('ZREM', KEYS[4], ARGV[5])
return 1
