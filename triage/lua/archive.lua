-- archive: remove closed cases that an archive file now holds, each only
-- if it is as it was written: closed (resolved or erased), updated at the
-- same time, with as many audit events, no text left and no follow-up
-- due, and the author's case before it (if any) already gone, so that
-- the chain of an author's cases, which an erasure follows from the
-- newest, never skips a case still in Redis (the caller gives the cases
-- oldest first). The case's hash and audit list go, and the author's
-- link to it (the key a next case would name as previous).
-- KEYS[1] queue
-- ARGV: prefix, then a (case_id, updated_ms, audit_length) triple a case
-- Returns the ids of the cases removed.
local removed = {}
for i = 2, #ARGV, 3 do
  local cid, updated, length = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local c = P .. 'case:' .. cid
  local f = redis.call('HMGET', c, 'state', 'updated_ms', 'author_key', 'prev')
  if (f[1] == 'resolved' or f[1] == 'deleted') and f[2] == updated
    and (not f[4] or f[4] == '' or redis.call('EXISTS', P .. 'case:' .. f[4]) == 0)
    and redis.call('LLEN', c .. ':audit') == length
    and redis.call('EXISTS', c .. ':posts', c .. ':notes', c .. ':pii') == 0
    and not redis.call('ZSCORE', P .. 'followups', cid) then
    if f[3] and f[3] ~= '' and redis.call('HGET', P .. 'last', f[3]) == cid then
      redis.call('HDEL', P .. 'last', f[3])
    end
    redis.call('DEL', c, c .. ':audit')
    removed[#removed + 1] = cid
  end
end
return removed
