-- A board from scratch: its players' totals (player_totals.sql), ranked within each grain.
SELECT totals.*,
       rank() OVER ({partition}ORDER BY total_points DESC, exact_scores DESC)::integer AS rank,
       row_number() OVER ({partition}ORDER BY total_points DESC, exact_scores DESC, user_id)::integer AS position
FROM ({totals}) AS totals
