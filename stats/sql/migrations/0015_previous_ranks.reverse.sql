-- Back to 0014: drop what 0015 built.
DROP MATERIALIZED VIEW stats_overall_previous_rank;
DROP MATERIALIZED VIEW stats_competition_previous_rank;
DROP TABLE stats_overall_previous_count, stats_competition_previous_count, stats_latest_round;
