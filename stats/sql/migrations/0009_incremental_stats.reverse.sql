-- Back to 0006: drop what 0009 built (the migration then runs 0003's and 0006's own scripts).
DROP MATERIALIZED VIEW stats_leaderboard;
DROP MATERIALIZED VIEW stats_competition_leaderboard;
DROP TRIGGER stats_mark_inserted_predictions ON stats_prediction;
DROP TRIGGER stats_mark_updated_predictions ON stats_prediction;
DROP TRIGGER stats_mark_deleted_predictions ON stats_prediction;
DROP TRIGGER stats_mark_inserted_matches ON stats_match;
DROP TRIGGER stats_mark_updated_matches ON stats_match;
DROP TRIGGER stats_mark_deleted_matches ON stats_match;
DROP TRIGGER stats_mark_truncated_predictions ON stats_prediction;
DROP TRIGGER stats_mark_truncated_matches ON stats_match;
DROP FUNCTION stats_mark_everything();
DROP FUNCTION stats_mark_predictions();
DROP FUNCTION stats_mark_matches();
DROP TABLE stats_touched, stats_round_leaderboard, stats_competition_total, stats_match_summary;
