from django.db import migrations

from stats.sql import load_sql


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction; it keeps the workers writing events.
    atomic = False

    dependencies = [
        ("stats", "0009_incremental_stats"),
        ("procrastinate", "0041_post_retry_failed_job"),
    ]

    operations = [
        migrations.RunSQL(
            load_sql("migrations/0010_failed_job_events_index.sql"),
            reverse_sql=load_sql("migrations/0010_failed_job_events_index.reverse.sql"),
        ),
    ]
