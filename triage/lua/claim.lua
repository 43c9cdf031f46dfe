-- claim: lease a case to a volunteer. With an empty case id, claim the most
-- urgent pending case the caller may take (their caps permitting).
-- KEYS[1] queue
-- ARGV: prefix, actor, case_id|'', lease_ms, cap_total, cap_high, may_take_escalated(0|1),
--       emergency_level (cap_high counts cases at or above it), assigner|''
-- With an assigner (a supervisor), the case is given to actor: from the
-- queue, the watch list, the escalated cases, or from whoever holds it
-- (their token goes stale), within actor's caps; audited as 'assigned'.
-- Returns {case_id, token, lease_deadline_ms, level, waited_ms} or {err_code}:
--   'none' (nothing to claim), 'cap' (caller holds too many), 'not_found',
--   'taken' (someone else holds it), 'not_claimable', 'disabled' (actor's
--   account is disabled).
local actor, want = ARGV[2], ARGV[3]
local lease, cap_total, cap_high = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local sup = ARGV[7] == '1'
local emergency = tonumber(ARGV[8])
local assigner = ARGV[9] or ''
-- A disabled account takes nothing, even by a request already on its way
-- when it was disabled (its held cases are being taken back).
if redis.call('HGET', P .. 'user:' .. actor, 'disabled') == '1' then return {'disabled'} end
local held_key = P .. 'held:' .. actor
local held = redis.call('SMEMBERS', held_key)
if #held >= cap_total then return {'cap'} end
local high = 0
for _, id in ipairs(held) do
  if tonumber(redis.call('HGET', P .. 'case:' .. id, 'level') or 0) >= emergency then high = high + 1 end
end

local function take(cid, from_state)
  local c = P .. 'case:' .. cid
  local now = now_ms()
  local lw = redis.call('HMGET', c, 'level', 'pending_ms')
  local token = tostring(redis.call('INCR', P .. 'fence'))
  local deadline = now + lease
  redis.call('HSET', c, 'state', 'claimed', 'owner', actor, 'token', token, 'lease_ms', deadline,
    'claimed_ms', now, 'updated_ms', now, 'overdue', 0, 'claimed_from', from_state,
    'held_by:' .. actor, now) -- whoever held it may still add a note (transition.lua)
  redis.call('HINCRBY', c, 'claims', 1)
  redis.call('ZREM', P .. 'queue', cid)
  redis.call('ZREM', P .. 'escalated', cid)
  redis.call('ZREM', P .. 'watch', cid)
  redis.call('ZADD', P .. 'leases', deadline, cid)
  redis.call('SADD', held_key, cid)
  if assigner ~= '' then
    audit(now, cid, assigner, 'assigned', 'to=' .. actor .. ' from=' .. from_state)
  else
    audit(now, cid, actor, 'claimed', 'from=' .. from_state .. ' token=' .. token)
  end
  return {cid, token, tostring(deadline), lw[1], tostring(now - (tonumber(lw[2]) or now))}
end

if want ~= '' then
  local c = P .. 'case:' .. want
  local f = redis.call('HMGET', c, 'state', 'level', 'owner', 'lease_ms')
  if not f[1] then return {'not_found'} end
  local from, holder, lapsed = f[1], nil, false
  if f[1] == 'claimed' then
    if f[3] == actor then return {'already_yours'} end
    lapsed = tonumber(f[4]) <= now_ms()
    if not lapsed and assigner == '' then return {'taken'} end
    -- The lease ran out and no sweep has returned it yet, or a supervisor
    -- hands the case on: the holder lets go of it, and it is taken from
    -- where it waited before.
    holder = f[3]
    local was = redis.call('HGET', c, 'claimed_from')
    from = 'pending'
    if was == 'watch' or was == 'escalated' then from = was end
  end
  if not (from == 'pending' or from == 'watch' or (from == 'escalated' and (sup or assigner ~= ''))) then
    return {'not_claimable'}
  end
  if tonumber(f[2]) >= emergency and high >= cap_high then return {'cap'} end
  if holder then
    redis.call('SREM', P .. 'held:' .. holder, want)
    if lapsed then audit(now_ms(), want, 'system', 'lease_expired', 'owner=' .. holder) end
  end
  return take(want, from)
end

-- The first case the caller may take. One at their emergency cap looks
-- past the emergency cases, which come first, page by page.
for page = 0, 99 do
  local ids = redis.call('ZRANGE', P .. 'queue', page * 100, page * 100 + 99)
  for _, cid in ipairs(ids) do
    local lvl = tonumber(redis.call('HGET', P .. 'case:' .. cid, 'level') or 0)
    if lvl < emergency or high < cap_high then
      return take(cid, 'pending')
    end
  end
  if #ids < 100 then break end
end
return {'none'}
