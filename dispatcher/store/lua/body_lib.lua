-- drop_body_later: a message reached a final state; its body is dropped ``retention`` ms from
-- now (drop_bodies.lua, run by every worker's mover), '' keeps it (a dead letter kept for replay).
local function drop_body_later(drops, id, now, retention)
  if retention ~= '' then redis.call('ZADD', drops, tonumber(now) + tonumber(retention), id) end
end
