-- repair: make one volunteer's held set and the lease index agree with
-- the cases. A held case that is no longer claimed by them leaves the set;
-- a case claimed by them but missing from the lease index is put back
-- (so the sweeper can expire it). Idempotent.
-- KEYS[1] queue
-- ARGV: prefix, user
-- Returns the number of repairs.
local user = ARGV[2]
local held = P .. 'held:' .. user
local fixed = 0
local now = now_ms()
for _, cid in ipairs(redis.call('SMEMBERS', held)) do
  local f = redis.call('HMGET', P .. 'case:' .. cid, 'state', 'owner', 'lease_ms')
  if f[1] ~= 'claimed' or f[2] ~= user then
    redis.call('SREM', held, cid)
    fixed = fixed + 1
  elseif not redis.call('ZSCORE', P .. 'leases', cid) then
    redis.call('ZADD', P .. 'leases', tonumber(f[3]) or now, cid)
    audit(now, cid, 'system', 'repaired', 'lease index')
    fixed = fixed + 1
  end
end
return fixed
