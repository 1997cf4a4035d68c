ALTER FUNCTION stats_log_prediction_changes() RESET enable_nestloop;
ALTER FUNCTION stats_log_prediction_changes() RESET jit;
ALTER FUNCTION stats_log_match_changes() RESET enable_nestloop;
ALTER FUNCTION stats_log_match_changes() RESET jit;
