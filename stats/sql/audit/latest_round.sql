-- The latest round that counted in each competition, from scratch: its highest round with a
-- scored prediction of a completed match, with that round's latest result (completed_at, then
-- the highest id). The overall board's latest round is the one of these whose result is latest.
SELECT DISTINCT ON (m.competition_id)
       m.competition_id, m.round, m.id::integer AS match_id, m.completed_at
FROM stats_match AS m
WHERE m.status = 'completed'
  AND EXISTS (
      SELECT FROM stats_prediction AS p JOIN stats_match AS scored ON scored.id = p.match_id
      WHERE p.points IS NOT NULL AND scored.status = 'completed'
        AND scored.competition_id = m.competition_id AND scored.round = m.round
  )
ORDER BY m.competition_id, m.round DESC, m.completed_at DESC, m.id DESC
