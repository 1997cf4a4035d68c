-- Before stats_match_kickoff_readable: a kickoff Python cannot read (before the year 2 or from
-- 9999 on, as an unchecked results feed could store) stops the migration with the matches' ids
-- and what to do, rather than a bare constraint violation.
DO $$
DECLARE
    unreadable text;
BEGIN
    SELECT string_agg(id::text || ' (' || kickoff_at::text || ')', ', ' ORDER BY id)
    INTO unreadable
    FROM stats_match
    WHERE kickoff_at < '0002-01-01 00:00+00' OR kickoff_at >= '9999-01-01 00:00+00';
    IF unreadable IS NOT NULL THEN
        RAISE EXCEPTION 'matches with a kickoff outside the years 2 to 9998: %', unreadable
            USING HINT = 'Set each one''s kickoff_at with SQL (UPDATE stats_match SET kickoff_at'
                         ' = ... WHERE id = ...) or delete it, then migrate again.';
    END IF;
END;
$$;
