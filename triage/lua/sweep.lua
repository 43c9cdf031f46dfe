-- sweep: return expired leases to where their cases waited, bring due
-- follow-ups back, move pending cases past their claim target up (once
-- each, audited: supervisors are told by the UI, metric and alert; up to
-- batch a level and tier a run), and score the first 1,000 queued cases
-- as priority (prelude) says.
-- Safe to run any number of times, from any number of instances.
-- KEYS[1] queue
-- ARGV: prefix, batch, claim target ms for levels 0..10 (0: none), emergency_level
-- Returns {expired_count, followups_count, overdue_count}.
local batch = tonumber(ARGV[2])
local targets = {}
for l = 0, 10 do targets[l] = tonumber(ARGV[3 + l]) end
local emergency = tonumber(ARGV[14])
local now = now_ms()
local expired, followups = 0, 0
for _, cid in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now, 'LIMIT', 0, batch)) do
  local c = P .. 'case:' .. cid
  local f = redis.call('HMGET', c, 'state', 'owner', 'lease_ms')
  redis.call('ZREM', P .. 'leases', cid)
  if f[1] == 'claimed' and tonumber(f[3]) <= now then
    if f[2] and f[2] ~= '' then redis.call('SREM', P .. 'held:' .. f[2], cid) end
    redis.call('HSET', c, 'owner', '', 'lease_ms', 0, 'updated_ms', now)
    local to = back_to_waiting(c, cid, emergency)
    audit(now, cid, 'system', 'lease_expired', 'owner=' .. (f[2] or '') .. ' to=' .. to)
    expired = expired + 1
  elseif f[1] == 'claimed' then
    -- renewed after we read it: keep the lease indexed
    redis.call('ZADD', P .. 'leases', tonumber(f[3]), cid)
  end
end
for _, cid in ipairs(redis.call('ZRANGEBYSCORE', P .. 'followups', '-inf', now, 'LIMIT', 0, batch)) do
  local c = P .. 'case:' .. cid
  redis.call('ZREM', P .. 'followups', cid)
  local f = redis.call('HMGET', c, 'state', 'author_key', 'level')
  if f[1] == 'resolved' then
    local open = redis.call('HGET', P .. 'open', f[2])
    if not open then
      redis.call('HSET', P .. 'open', f[2], cid)
      for _, suffix in ipairs({':posts', ':notes', ':pii'}) do redis.call('PERSIST', c .. suffix) end
      redis.call('HSET', c, 'state', 'pending', 'pending_ms', now, 'follow_up', 1, 'updated_ms', now)
      redis.call('ZADD', P .. 'queue', priority(tonumber(f[3]), now, false, emergency), cid)
      audit(now, cid, 'system', 'follow_up_due', '')
      followups = followups + 1
    else
      -- The person has posted again and has an open case: the check-in
      -- is due there (marked, and in its activity), not lost.
      redis.call('HSET', P .. 'case:' .. open, 'follow_up', 1)
      audit(now, open, 'system', 'follow_up_due', 'from=' .. cid)
      audit(now, cid, 'system', 'follow_up_due', 'to=' .. open)
      followups = followups + 1
    end
  end
end
local overdue = 0
-- mark_overdue moves one case up, once, audited.
local function mark_overdue(c, cid, lvl, since)
  redis.call('HSET', c, 'overdue', 1)
  redis.call('ZADD', P .. 'queue', priority(lvl, since, true, emergency), cid)
  audit(now, cid, 'system', 'overdue', 'level=' .. lvl)
  overdue = overdue + 1
end
-- The cases past their target, however long the queue: in each level's
-- band of the two tiers of cases within their target (priority), those
-- that began waiting before now minus the target.
for lvl = 0, 10 do
  local t = targets[lvl]
  if t and t > 0 then
    for _, base in ipairs({priority(lvl, 0, false, lvl + 1), priority(lvl, 0, false, lvl)}) do
      local late = redis.call('ZRANGEBYSCORE', P .. 'queue', base, base + now - t - 1, 'LIMIT', 0, batch)
      for _, cid in ipairs(late) do
        local c = P .. 'case:' .. cid
        local f = redis.call('HMGET', c, 'level', 'pending_ms', 'overdue')
        if tonumber(f[1]) == lvl and f[3] ~= '1' and tonumber(f[2]) then
          mark_overdue(c, cid, lvl, tonumber(f[2]))
        end
      end
    end
  end
end
-- The first 1,000 are scored as priority says with the emergency level in
-- force: a changed emergency level, or scores an earlier release wrote,
-- are put right here (and a case the bands above missed is marked).
local queued = redis.call('ZRANGE', P .. 'queue', 0, 999, 'WITHSCORES')
for i = 1, #queued, 2 do
  local cid, score = queued[i], tonumber(queued[i + 1])
  local c = P .. 'case:' .. cid
  local f = redis.call('HMGET', c, 'level', 'pending_ms', 'overdue')
  local lvl, since = tonumber(f[1]), tonumber(f[2])
  if lvl and since then
    local t = targets[lvl]
    if f[3] ~= '1' and t and t > 0 and now - since > t then
      mark_overdue(c, cid, lvl, since)
    else
      local want = priority(lvl, since, f[3] == '1', emergency)
      if score ~= want then redis.call('ZADD', P .. 'queue', want, cid) end
    end
  end
end
return {expired, followups, overdue, now}
