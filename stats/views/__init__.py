"""HTTP doors, by audience: the league's endpoints and page (`league`), operations (`ops`:
health, metrics), the scheduler's cron call (`cron`); `params` parses what a request asks for."""
