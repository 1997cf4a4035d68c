DROP FUNCTION stats_prediction_points(integer, integer, integer, integer, integer, integer, integer);
