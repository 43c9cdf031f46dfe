-- rekey: move one case from the plain hash of its author to the keyed one,
-- when a Redis written without a pseudonym key takes one.
-- KEYS[1] open
-- ARGV: prefix, case_id, plain_author_key, keyed_author_key
-- Returns 1 when the case moved, 0 when it was not under the plain hash.
local cid, plain, keyed = ARGV[2], ARGV[3], ARGV[4]
local c = P .. 'case:' .. cid
if redis.call('HGET', c, 'author_key') ~= plain then return 0 end
redis.call('HSET', c, 'author_key', keyed)
for _, h in ipairs({'open', 'last'}) do
  -- An entry under the keyed hash is newer (written by a keyed ingest):
  -- it stays.
  if redis.call('HGET', P .. h, plain) == cid and not redis.call('HGET', P .. h, keyed) then
    redis.call('HDEL', P .. h, plain)
    redis.call('HSET', P .. h, keyed, cid)
  end
end
return 1
