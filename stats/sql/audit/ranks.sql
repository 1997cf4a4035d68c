-- A template, composed by stats/audit.py for each grain: each board's groups from
-- `counts_definition` (counts.sql), best first, with the players above each.
SELECT {board} total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           {partition} ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM ({counts_definition}) AS counts
