-- queue_callback: a message reached a state a callback is due for (accepted, delivered, ...):
-- when it has a callback_url, queue one status callback ("<id>|<state>", once).
local function queue_callback(message, callbacks, id, state, now, has_callback)
  if has_callback == nil then has_callback = redis.call('HEXISTS', message, 'callback_url') == 1 end
  if has_callback then redis.call('ZADD', callbacks, 'NX', now, id .. '|' .. state) end
end
