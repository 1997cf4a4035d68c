DROP MATERIALIZED VIEW stats_match_summary;
DROP MATERIALIZED VIEW stats_round_leaderboard;
DROP MATERIALIZED VIEW stats_competition_leaderboard;
DROP MATERIALIZED VIEW stats_leaderboard;
