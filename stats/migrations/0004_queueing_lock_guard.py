from django.db import migrations

from stats.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [
        ("stats", "0003_stats_views"),
        ("procrastinate", "0041_post_retry_failed_job"),
    ]

    operations = [
        migrations.RunSQL(
            load_sql("migrations/0004_queueing_lock_guard.sql"),
            reverse_sql=load_sql("migrations/0004_queueing_lock_guard.reverse.sql"),
        ),
    ]
