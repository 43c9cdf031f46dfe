-- audit: record an action that changes nothing else (a read, a denial, a
-- login), with Redis TIME like every other audit entry.
-- KEYS[1] queue
-- ARGV: prefix, case_id or '', actor, action, detail
-- Returns 'ok'.
audit(now_ms(), ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 'ok'
