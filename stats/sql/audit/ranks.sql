-- Each board's groups from scratch (counts.sql), best first, with the players above each.
SELECT counts.*,
       (coalesce(sum(players) OVER (
           {partition}ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM ({totals}) AS counts
