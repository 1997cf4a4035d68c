-- Back to 0011: drop what 0012 built and the two tables 0009 built (the migration then runs
-- 0003's, 0006's and 0009's own scripts, which rebuild 0009's relations from the predictions).
DROP MATERIALIZED VIEW stats_overall_rank;
DROP MATERIALIZED VIEW stats_competition_rank;
DROP MATERIALIZED VIEW stats_round_rank;
DROP TRIGGER stats_log_inserted_predictions ON stats_prediction;
DROP TRIGGER stats_log_updated_predictions ON stats_prediction;
DROP TRIGGER stats_log_deleted_predictions ON stats_prediction;
DROP TRIGGER stats_log_inserted_matches ON stats_match;
DROP TRIGGER stats_log_updated_matches ON stats_match;
DROP TRIGGER stats_log_deleted_matches ON stats_match;
DROP TRIGGER stats_log_truncated_predictions ON stats_prediction;
DROP TRIGGER stats_log_truncated_matches ON stats_match;
DROP FUNCTION stats_log_prediction_changes();
DROP FUNCTION stats_log_match_changes();
DROP FUNCTION stats_log_truncate();
DROP TABLE stats_prediction_change, stats_match_change,
    stats_user_total, stats_competition_total, stats_round_total,
    stats_overall_count, stats_competition_count, stats_round_count,
    stats_match_summary;
