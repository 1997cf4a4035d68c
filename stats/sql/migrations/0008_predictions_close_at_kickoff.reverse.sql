DROP TRIGGER stats_prediction_close_at_kickoff ON stats_prediction;
DROP FUNCTION stats_prediction_close_at_kickoff();
DROP FUNCTION stats_prediction_closed_reason(bigint);
