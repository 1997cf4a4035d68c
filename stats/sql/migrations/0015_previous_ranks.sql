-- Movement (previous_rank) on the league's overall and competition boards: the latest round that
-- counted in each competition, how many players stood at each (total_points, exact_scores)
-- before it on each board (their totals less their row of that round; the lowest group, (0, 0),
-- left out: nobody there stands above anyone), kept by difference by the refresh, and the rank
-- views over those counts. Filled from the relations already there.
CREATE TABLE stats_latest_round (
    competition_id integer NOT NULL,
    round integer NOT NULL,
    match_id integer NOT NULL,
    completed_at timestamp with time zone,
    CONSTRAINT stats_latest_round_key PRIMARY KEY (competition_id)
);
CREATE TABLE stats_overall_previous_count (
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    players integer NOT NULL,
    CONSTRAINT stats_overall_previous_count_key PRIMARY KEY (total_points, exact_scores)
);
CREATE TABLE stats_competition_previous_count (
    competition_id integer NOT NULL,
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    players integer NOT NULL,
    CONSTRAINT stats_competition_previous_count_key PRIMARY KEY (competition_id, total_points, exact_scores)
);

INSERT INTO stats_latest_round (competition_id, round, match_id, completed_at)
SELECT DISTINCT ON (m.competition_id) m.competition_id, m.round, m.id, m.completed_at
FROM stats_match AS m
WHERE m.status = 'completed'
  AND EXISTS (
      SELECT FROM stats_round_total AS r WHERE r.competition_id = m.competition_id AND r.round = m.round
  )
ORDER BY m.competition_id, m.completed_at DESC, m.id DESC;
INSERT INTO stats_competition_previous_count
SELECT t.competition_id, t.total_points - coalesce(r.total_points, 0),
       t.exact_scores - coalesce(r.exact_scores, 0), count(*)
FROM stats_competition_total AS t
LEFT JOIN stats_latest_round AS l ON l.competition_id = t.competition_id
LEFT JOIN stats_round_total AS r
  ON r.competition_id = l.competition_id AND r.round = l.round AND r.user_id = t.user_id
WHERE (t.total_points - coalesce(r.total_points, 0), t.exact_scores - coalesce(r.exact_scores, 0)) <> (0, 0)
GROUP BY 1, 2, 3;
INSERT INTO stats_overall_previous_count
SELECT t.total_points - coalesce(r.total_points, 0), t.exact_scores - coalesce(r.exact_scores, 0), count(*)
FROM stats_user_total AS t
LEFT JOIN (
    SELECT competition_id, round FROM stats_latest_round ORDER BY completed_at DESC, match_id DESC LIMIT 1
) AS l ON TRUE
LEFT JOIN stats_round_total AS r
  ON r.competition_id = l.competition_id AND r.round = l.round AND r.user_id = t.user_id
WHERE (t.total_points - coalesce(r.total_points, 0), t.exact_scores - coalesce(r.exact_scores, 0)) <> (0, 0)
GROUP BY 1, 2;

-- The previous rank views: as the rank views, over the previous counts (previous_rank =
-- players_above + 1).
CREATE MATERIALIZED VIEW stats_overall_previous_rank AS
SELECT total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM stats_overall_previous_count
WITH DATA;
CREATE UNIQUE INDEX stats_overall_previous_rank_key
    ON stats_overall_previous_rank (total_points, exact_scores);

CREATE MATERIALIZED VIEW stats_competition_previous_rank AS
SELECT competition_id, total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           PARTITION BY competition_id ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM stats_competition_previous_count
WITH DATA;
CREATE UNIQUE INDEX stats_competition_previous_rank_key
    ON stats_competition_previous_rank (competition_id, total_points, exact_scores);
