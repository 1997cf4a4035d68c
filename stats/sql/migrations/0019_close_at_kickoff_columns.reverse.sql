-- Back to 0018: the kickoff rule's trigger fires for every UPDATE of a prediction.
DROP TRIGGER stats_prediction_close_at_kickoff ON stats_prediction;
CREATE TRIGGER stats_prediction_close_at_kickoff
    BEFORE INSERT OR UPDATE ON stats_prediction
    FOR EACH ROW EXECUTE FUNCTION stats_prediction_close_at_kickoff();
