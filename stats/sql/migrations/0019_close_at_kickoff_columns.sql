-- The kickoff rule fires only for the statements that set a prediction's own columns. Scoring's
-- UPDATE sets `points` alone: before, the row trigger still ran its PL/pgSQL function for each
-- of the match's predictions, only to return at once (the function's first test stays, for an
-- UPDATE that sets these columns to the values they had, as an ORM save() does).
DROP TRIGGER stats_prediction_close_at_kickoff ON stats_prediction;
CREATE TRIGGER stats_prediction_close_at_kickoff
    BEFORE INSERT OR UPDATE OF user_id, match_id, home_score, away_score ON stats_prediction
    FOR EACH ROW EXECUTE FUNCTION stats_prediction_close_at_kickoff();
