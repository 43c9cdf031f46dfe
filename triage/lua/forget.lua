-- forget: erase one case of an author on a deletion request: the text,
-- notes and identity go; the case keeps its id, level and outcome
-- (pseudonymous), leaves every index, and the erasure is audited.
-- KEYS[1] queue
-- ARGV: prefix, case_id, actor
-- Returns the previous case id in the author's chain ('' when none), or
-- nil when the case is not in Redis (archived).
local cid, actor = ARGV[2], ARGV[3]
local c = P .. 'case:' .. cid
local f = redis.call('HMGET', c, 'state', 'owner', 'author_key', 'prev')
if not f[1] then return false end
for _, suffix in ipairs({':posts', ':notes', ':pii'}) do redis.call('DEL', c .. suffix) end
for _, idx in ipairs({'queue', 'watch', 'leases', 'escalated', 'followups'}) do redis.call('ZREM', P .. idx, cid) end
if f[2] and f[2] ~= '' then redis.call('SREM', P .. 'held:' .. f[2], cid) end
if f[3] and f[3] ~= '' then
  if redis.call('HGET', P .. 'open', f[3]) == cid then redis.call('HDEL', P .. 'open', f[3]) end
  if redis.call('HGET', P .. 'last', f[3]) == cid then redis.call('HDEL', P .. 'last', f[3]) end
end
local now = now_ms()
redis.call('HSET', c, 'state', 'deleted', 'author_key', '', 'owner', '', 'token', '', 'updated_ms', now)
audit(now, cid, actor, 'author_erased', '')
return f[4] or ''
