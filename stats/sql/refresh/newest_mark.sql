-- When the newest pending mark was made (NULL when every write is refreshed).
SELECT max(marked_at) FROM stats_touched
