-- Temp tables: reads stats_previous_total; creates stats_group_recomputed.
-- A template, composed by stats/refresh.py for a rebuild, for each grain with group counts and
-- each of its group relations: `recomputed` the relation's rows recomputed from the totals just
-- rebuilt (the previous counts: from stats_previous_total), `relation` the stored one, `columns`
-- its columns, `key` its key, `matched` that key matched between s (recomputed) and r (stored),
-- each condition followed by AND, `values` the columns beside the key, `stored` and `excluded`
-- those prefixed by r. and excluded. Writes only the rows that differ.
DROP TABLE IF EXISTS pg_temp.stats_group_recomputed;
CREATE TEMP TABLE stats_group_recomputed ON COMMIT DROP AS {recomputed};
DELETE FROM {relation} AS r
WHERE NOT EXISTS (SELECT FROM stats_group_recomputed AS s WHERE {matched} TRUE);
INSERT INTO {relation} AS r ({columns})
SELECT {columns} FROM stats_group_recomputed
ORDER BY {key}
ON CONFLICT ({key}) DO UPDATE SET ({values}) = ROW({excluded})
WHERE ({stored}) IS DISTINCT FROM ({excluded});
SELECT true
