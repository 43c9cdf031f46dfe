-- transition: a lease holder's action on a claimed case. Checks state, owner
-- and lease token (fencing), applies the change and audits it; a rejected
-- attempt is audited too.
-- KEYS[1] queue
-- ARGV: prefix, actor, case_id, token, action, lease_ms, arg1, arg2, arg3, retention_ms,
--       emergency_level, arg4, note
--   note: for 'escalate' and 'resolve', the holder's note JSON to add with
--   the action, or ''; added only if the action is (one step, so a refused
--   action leaves no note behind and a done one never lacks its note).
--   action 'renew':    extend the lease to lease_ms from now (never
--                      shortening it); returns {'ok', deadline_ms, level,
--                      posts, notes}.
--   action 'await':    the holder waits for the person's reply: the lease
--                      extends to arg1 ms from now, arg2 ms at or above
--                      the emergency level (never shortening it);
--                      returns {'ok', deadline_ms}.
--   action 'release':  back where it waited (the queue, the watch list or
--                      the escalations); returns {'ok', '0', new_state}.
--   action 'escalate': hand to supervisors; arg1 = reason code.
--   action 'resolve':  arg1 = outcome code, arg2 = corrected level or '',
--                      arg3 = follow-up time ms or '', arg4 = tries to reach
--                      the person or ''; text expires after retention_ms.
--   action 'note':     arg1 = note JSON, arg2 = who may add it besides the
--                      holder: 'former_holder' (whoever held the case
--                      before) or 'supervisor' (anyone, on an open case; the
--                      role is checked in Go). The lease is not changed.
--   action 'reassign': a supervisor (actor) returns a claimed case to where
--                      it waited; no token (the caller's role is checked in Go);
--                      returns {'ok', '0', new_state}.
-- Returns {'ok', lease_deadline_ms, level, age_ms} or {err_code}: 'not_found',
-- 'not_claimed', 'stale_token', and for a note on an open case by a volunteer
-- who never held it, 'never_held'. age_ms is the time since the case opened.
local actor, cid, token, action = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local lease = tonumber(ARGV[6])
local a1, a2, a3 = ARGV[7], ARGV[8], ARGV[9]
local retention, emergency = tonumber(ARGV[10]), tonumber(ARGV[11])
local a4 = ARGV[12] or ''
local note = ARGV[13] or ''
local c = P .. 'case:' .. cid
local now = now_ms()

if action == 'reassign' then
  local f = redis.call('HMGET', c, 'state', 'owner')
  if not f[1] then return {'not_found'} end
  if f[1] ~= 'claimed' then return {'not_claimed'} end
  redis.call('ZREM', P .. 'leases', cid)
  redis.call('SREM', P .. 'held:' .. f[2], cid)
  redis.call('HSET', c, 'owner', '', 'token', '', 'lease_ms', 0, 'updated_ms', now)
  local to = back_to_waiting(c, cid, emergency)
  audit(now, cid, actor, 'reassigned', 'from=' .. f[2] .. ' to=' .. to)
  return {'ok', '0', to}
end

-- A note changes no hands, so the lease is not the only key to it: a
-- volunteer whose lease ran out while they wrote to the person must still
-- be able to record what they learned, and a supervisor may note any open
-- case. A resolved or erased case takes no note (its text expires or is
-- gone).
if action == 'note' then
  local f = redis.call('HMGET', c, 'state', 'owner', 'token', 'held_by:' .. actor)
  local open = f[1] == 'pending' or f[1] == 'watch' or f[1] == 'claimed' or f[1] == 'escalated'
  local as = ''
  if not (f[1] == 'claimed' and f[2] == actor and f[3] == token) then
    if open and f[4] then as = 'as=former_holder'
    elseif open and a2 == 'supervisor' then as = 'as=supervisor'
    else
      local bad = 'never_held'
      if not open then bad = holder_check(c, actor, token) end
      if bad ~= 'not_found' then audit(now, cid, actor, 'rejected', 'note: ' .. bad) end
      return {bad}
    end
  end
  redis.call('RPUSH', c .. ':notes', a1)
  redis.call('HSET', c, 'updated_ms', now)
  audit(now, cid, actor, 'note_added', as)
  return {'ok', redis.call('HGET', c, 'lease_ms')}
end

local bad = holder_check(c, actor, token)
if bad then
  if bad ~= 'not_found' then audit(now, cid, actor, 'rejected', action .. ': ' .. bad) end
  return {bad}
end

if note ~= '' and (action == 'escalate' or action == 'resolve') then
  redis.call('RPUSH', c .. ':notes', note)
  audit(now, cid, actor, 'note_added', '')
end

local function unhold()
  redis.call('ZREM', P .. 'leases', cid)
  redis.call('SREM', P .. 'held:' .. actor, cid)
  redis.call('HSET', c, 'owner', '', 'lease_ms', 0, 'updated_ms', now)
end

-- extend moves the lease's end to ms from now, unless it ends later
-- already (a hold while awaiting a reply outlasts the renewals).
local function extend(ms)
  local deadline = math.max(now + ms, tonumber(redis.call('HGET', c, 'lease_ms')) or 0)
  redis.call('HSET', c, 'lease_ms', deadline)
  redis.call('ZADD', P .. 'leases', deadline, cid)
  return deadline
end

if action == 'renew' then
  local deadline = extend(lease)
  local f = redis.call('HMGET', c, 'level', 'posts')
  return {'ok', tostring(deadline), f[1] or '0', f[2] or '0', tostring(redis.call('LLEN', c .. ':notes'))}
elseif action == 'await' then
  local hold = tonumber(a1)
  if (tonumber(redis.call('HGET', c, 'level')) or 0) >= emergency then hold = tonumber(a2) end
  local deadline = extend(hold)
  redis.call('HSET', c, 'awaiting_ms', now)
  audit(now, cid, actor, 'awaiting_reply', 'until=' .. deadline)
  return {'ok', tostring(deadline)}
elseif action == 'release' then
  unhold()
  local to = back_to_waiting(c, cid, emergency)
  audit(now, cid, actor, 'released', 'to=' .. to)
  return {'ok', '0', to}
elseif action == 'escalate' then
  unhold()
  redis.call('HSET', c, 'state', 'escalated', 'escalated_ms', now, 'escalate_reason', a1)
  redis.call('ZADD', P .. 'escalated', now, cid)
  audit(now, cid, actor, 'escalated', 'reason=' .. a1)
  return {'ok', '0'}
elseif action == 'resolve' then
  unhold()
  redis.call('HSET', c, 'state', 'resolved', 'resolved_ms', now, 'outcome', a1,
    'corrected_level', a2, 'follow_up_ms', a3, 'resolved_by', actor, 'tries', a4)
  local akey = redis.call('HGET', c, 'author_key')
  if redis.call('HGET', P .. 'open', akey) == cid then redis.call('HDEL', P .. 'open', akey) end
  redis.call('HSET', P .. 'last', akey, cid)
  if a3 ~= '' then redis.call('ZADD', P .. 'followups', tonumber(a3), cid) end
  -- Text and identity of a resolved case expire; ids and the audit stay.
  for _, suffix in ipairs({':posts', ':notes', ':pii'}) do
    if redis.call('EXISTS', c .. suffix) == 1 then redis.call('PEXPIRE', c .. suffix, retention) end
  end
  -- Ids of its posts indexed as ids (before ingest wrote keys) leave the
  -- post index for a hash of each (ingest reads both): an id leads to the
  -- author, and must not outlive the text.
  for _, raw in ipairs(redis.call('LRANGE', c .. ':posts', 0, -1)) do
    local ok, e = pcall(cjson.decode, raw)
    if ok and type(e) == 'table' and type(e.id) == 'string' and redis.call('HGET', P .. 'postcase', e.id) == cid then
      redis.call('HDEL', P .. 'postcase', e.id)
      redis.call('HSET', P .. 'posthash', redis.sha1hex(e.id), cid)
    end
  end
  local detail = 'outcome=' .. a1
  if a2 ~= '' then detail = detail .. ' corrected_level=' .. a2 end
  if a3 ~= '' then detail = detail .. ' follow_up=' .. a3 end
  if a4 ~= '' then detail = detail .. ' tries=' .. a4 end
  audit(now, cid, actor, 'resolved', detail)
  local f = redis.call('HMGET', c, 'level', 'created_ms')
  -- The outcome record feeds precision per level and labeled exports.
  redis.call('XADD', P .. 'outcomes', '*', 'case', cid, 'level', f[1], 'outcome', a1, 'corrected', a2, 'tries', a4)
  return {'ok', '0', f[1], tostring(now - tonumber(f[2]))}
end
return redis.error_reply('unknown action')
