--#include opt_out_lib
--#include claim_lib
--#include fill_job
-- KEYS: a queue's ready list, when that list last moved, delay queue, pending index, opt-out
-- list. ARGV:
-- message key prefix, lease ms, now ms, most ids to take, claim token prefix, the template of a
-- job that drains the list, the queue. Takes up to that many ids from the head of the list and
-- claims each (claim_lib; token: the prefix and its place), and, when the list still holds
-- messages, queues the next job for it in the same step: several job threads and workers drain
-- one list at once, and a list is never left with messages and no job. Returns {id, claim
-- result} for each id taken.
local ids = redis.call('LPOP', KEYS[1], ARGV[4])
local results = {}
if not ids then return results end
for place, id in ipairs(ids) do
  local token = ARGV[5] .. place
  local result = claim(ARGV[1] .. id, KEYS[3], KEYS[4], token, ARGV[2], ARGV[3], id, KEYS[5])
  table.insert(results, {id, result})
end
redis.call('SET', KEYS[2], ARGV[3])
if redis.call('LLEN', KEYS[1]) > 0 then
  redis.call('LPUSH', ARGV[7], fill_job(ARGV[6], ids[1] .. '.n', ARGV[7], ARGV[7]))
end
return results
