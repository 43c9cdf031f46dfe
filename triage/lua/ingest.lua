-- ingest: record one flagged post; create the author's case or add the post
-- to their open case. Idempotent on the post id.
-- KEYS[1] queue
-- ARGV: prefix, post_id, author_key, author_id, new_case_id, level,
--       p_high, post_json, queue_level, unclassified(0|1), post_ms, emergency_level,
--       emergency_hold_ms, post_key, legacy_author_key, key_check
-- post_key is the post id's key in the post index; legacy_author_key the
-- plain hash of the author id when author_key is keyed ('' otherwise);
-- key_check the check of the caller's pseudonym key ('' without one).
-- Returns {case_id, "created"|"joined"|"duplicate", state}.
local post_id, akey, author = ARGV[2], ARGV[3], ARGV[4]
local new_id, level, p_high = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local post_json, queue_level, unclassified = ARGV[8], tonumber(ARGV[9]), ARGV[10]
local post_ms, emergency = tonumber(ARGV[11]), tonumber(ARGV[12])
local emergency_hold = tonumber(ARGV[13])
local post_key, legacy = ARGV[14], ARGV[15]

-- Ids written under another pseudonym key, or none, would split a
-- person's posts into two cases: refused (the caller retries, and stalls
-- until it is restarted with the key this Redis took).
local check = redis.call('GET', P .. 'pseudonym')
if check and check ~= '' and check ~= ARGV[16] then
  return redis.error_reply('PSEUDONYM this Redis took another pseudonym key than this instance has: restart it with the key of the others')
end

-- The post index keeps a key of each post id (the id leads to the
-- author). Before keys it held the ids of open cases' posts, and SHA-1
-- hashes of the others: a post delivered again is found in either.
local seen = redis.call('HGET', P .. 'posthash', post_key)
  or redis.call('HGET', P .. 'postcase', post_id)
if seen then
  return {seen, 'duplicate', redis.call('HGET', P .. 'case:' .. seen, 'state') or 'deleted'}
end
if legacy ~= '' then
  seen = redis.call('HGET', P .. 'posthash', redis.sha1hex(post_id))
  if seen then return {seen, 'duplicate', redis.call('HGET', P .. 'case:' .. seen, 'state') or 'deleted'} end
end

-- The author's case in index h ('open' or 'last'). A case written before
-- the deployment had a pseudonym key, whose identity had expired when the
-- key came (or one an instance without the key wrote while it came), is
-- indexed by the plain hash: found so, the entry and the case move to the
-- keyed one.
local function author_case(h)
  local id = redis.call('HGET', P .. h, akey)
  if id or legacy == '' then return id end
  id = redis.call('HGET', P .. h, legacy)
  if id then
    redis.call('HDEL', P .. h, legacy)
    redis.call('HSET', P .. h, akey, id)
    if redis.call('HGET', P .. 'case:' .. id, 'author_key') == legacy then
      redis.call('HSET', P .. 'case:' .. id, 'author_key', akey)
    end
  end
  return id
end

local now = now_ms()
local cid = author_case('open')
local action
if cid then
  local c = P .. 'case:' .. cid
  action = 'joined'
  redis.call('RPUSH', c .. ':posts', post_json)
  redis.call('HINCRBY', c, 'posts', 1)
  redis.call('HSET', c, 'updated_ms', now)
  local f = redis.call('HMGET', c, 'level', 'state', 'created_ms')
  local old, state, created = tonumber(f[1]), f[2], tonumber(f[3])
  if level > old then
    redis.call('HSET', c, 'level', level, 'p_high', p_high, 'level_ms', now)
  end
  if unclassified == '1' then redis.call('HSET', c, 'unclassified', 1) end
  local lvl = math.max(level, old)
  if state == 'watch' then
    if lvl >= queue_level then
      redis.call('ZREM', P .. 'watch', cid)
      redis.call('HSET', c, 'state', 'pending', 'pending_ms', now)
      redis.call('ZADD', P .. 'queue', priority(lvl, now, false, emergency), cid)
      state = 'pending'
    else
      redis.call('ZADD', P .. 'watch', now, cid)
    end
  elseif state == 'claimed' and lvl >= queue_level and redis.call('HGET', c, 'claimed_from') == 'watch' then
    -- Claimed from the watch list and now at the queue's level: when it
    -- leaves this claim, it waits in the queue (an escalation stays one).
    redis.call('HSET', c, 'claimed_from', 'pending')
  elseif state == 'pending' then
    local pf = redis.call('HMGET', c, 'pending_ms', 'overdue')
    -- An overdue case stays moved up.
    redis.call('ZADD', P .. 'queue', priority(lvl, tonumber(pf[1]) or created, pf[2] == '1', emergency), cid)
  end
  -- A held case at the emergency level is kept no longer than the
  -- emergency hold from now: a holder who awaits a reply in another app
  -- does not see the new post, and the case must not wait an hour for them.
  if state == 'claimed' and lvl >= emergency then
    local until_ms = now + emergency_hold
    if (tonumber(redis.call('HGET', c, 'lease_ms')) or 0) > until_ms then
      redis.call('HSET', c, 'lease_ms', until_ms)
      redis.call('ZADD', P .. 'leases', until_ms, cid)
      audit(now, cid, 'system', 'hold_shortened', 'until=' .. until_ms)
    end
  end
  redis.call('HSET', P .. 'posthash', post_key, cid)
  audit(now, cid, 'system', 'post_added', 'level=' .. level)
  return {cid, action, state}
end

cid = new_id
local c = P .. 'case:' .. cid
local state = 'watch'
if level >= queue_level then state = 'pending' end
local prev = author_case('last') or ''
redis.call('HSET', c, 'id', cid, 'state', state, 'level', level, 'p_high', p_high,
  'author_key', akey, 'created_ms', now, 'updated_ms', now, 'level_ms', now,
  'pending_ms', now, 'first_post_ms', post_ms, 'posts', 1, 'prev', prev,
  'unclassified', unclassified, 'owner', '', 'token', '', 'lease_ms', 0, 'claims', 0)
redis.call('HSET', c .. ':pii', 'author', author)
redis.call('RPUSH', c .. ':posts', post_json)
redis.call('HSET', P .. 'open', akey, cid)
redis.call('HSET', P .. 'posthash', post_key, cid)
if state == 'pending' then
  redis.call('ZADD', P .. 'queue', priority(level, now, false, emergency), cid)
else
  redis.call('ZADD', P .. 'watch', now, cid)
end
local detail = 'level=' .. level
if prev ~= '' then detail = detail .. ' prev=' .. prev end
audit(now, cid, 'system', 'created', detail)
return {cid, 'created', state}
