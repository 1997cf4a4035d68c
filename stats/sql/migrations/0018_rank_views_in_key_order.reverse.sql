-- Back to 0017: the rank views without their ORDER BY.
DROP MATERIALIZED VIEW stats_overall_rank;
DROP MATERIALIZED VIEW stats_competition_rank;
DROP MATERIALIZED VIEW stats_round_rank;
DROP MATERIALIZED VIEW stats_overall_previous_rank;
DROP MATERIALIZED VIEW stats_competition_previous_rank;

CREATE MATERIALIZED VIEW stats_overall_rank AS
SELECT total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM stats_overall_count
WITH DATA;
CREATE UNIQUE INDEX stats_overall_rank_key ON stats_overall_rank (total_points, exact_scores);

CREATE MATERIALIZED VIEW stats_competition_rank AS
SELECT competition_id, total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           PARTITION BY competition_id ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM stats_competition_count
WITH DATA;
CREATE UNIQUE INDEX stats_competition_rank_key
    ON stats_competition_rank (competition_id, total_points, exact_scores);

CREATE MATERIALIZED VIEW stats_round_rank AS
SELECT competition_id, round, total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           PARTITION BY competition_id, round ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM stats_round_count
WITH DATA;
CREATE UNIQUE INDEX stats_round_rank_key
    ON stats_round_rank (competition_id, round, total_points, exact_scores);

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
